using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>Sigmoid: x -> y element-wise; backward reads y.</summary>
        internal string Sigmoid(string path, string x, string? output) => Elementwise("Sigmoid", path, x, output, backwardReadsOutput: true);
    }
}
