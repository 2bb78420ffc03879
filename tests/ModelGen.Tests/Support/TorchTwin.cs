using System;
using System.Linq;
using ModelGen.IO;
using ModelGen.Tests.Models;

namespace ModelGen.Tests.Support;

/// <summary>A model against its PyTorch twin in Peers/conv_ops_reference.py on the same weights: backward on a random upstream
/// gradient, then the output, the named inputs' gradients and every parameter gradient compared.</summary>
public static class TorchTwin
{
    /// <param name="prefix">What parameter names lose on the torch side (the layer's path and a dot).</param>
    /// <param name="torchPrefix">What they gain there (a layer of a one-layer stack: "layers.0.").</param>
    /// <param name="gradients">The model inputs whose gradients are compared (their names are also the torch side's).</param>
    /// <param name="inputs">The model's inputs as the twin reads them.</param>
    public static void AgreesWithTorch(Tensor y, Action<Tensor> backward, ParameterSet parameters, Func<string, Tensor> inputGradient, object config,
        string prefix, string torchPrefix, string[] gradients, params SafeTensor[] inputs)
    {
        var dy = ModelData.Random(5, 1f, y.Shape);
        backward(dy);
        var all = inputs.Append(new SafeTensor("grad_output", dy.Shape, dy.Data))
            .Concat(parameters.Select(p => new SafeTensor(torchPrefix + p.Name.Substring(prefix.Length), p.Shape, p.Value))).ToArray();
        var reference = TorchOps.Run(config, all);
        TorchOps.Close(reference, "output", y.Data);
        foreach (var input in gradients) TorchOps.Close(reference, "grad." + input, inputGradient(input).Data);
        foreach (var p in parameters.Where(p => p.Trainable))
        {
            string name = torchPrefix + p.Name.Substring(prefix.Length);
            // A key bias adds q·b to a whole row of scores, which the softmax ignores: its gradient is 0 but for rounding, so it
            // is held to an absolute 1e-5.
            TorchOps.Close(reference, "grad." + name, p.Grad, floor: name.EndsWith("k_proj.bias", StringComparison.Ordinal) ? 1 : 1e-6);
        }
    }

    /// <summary>A tensor as the twin reads it.</summary>
    public static SafeTensor Named(string name, Tensor t) => new(name, t.Shape, t.Data);
}
