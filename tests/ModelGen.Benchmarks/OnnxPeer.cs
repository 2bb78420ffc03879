using System;
using System.Collections.Generic;
using System.IO;
using Microsoft.ML.OnnxRuntime;

namespace ModelGen.Benchmarks;

/// <summary>
/// ONNX Runtime on the files <c>torch_vit.py export-onnx --out DIR</c> writes (the peer's models with its seed-0 random
/// weights, input "x", output "y", fixed batch): a CPU session with <see cref="SessionOptions.IntraOpNumThreads"/> threads,
/// one inter-op thread, sequential execution and all graph optimizations; each timed call is one
/// <see cref="InferenceSession.Run(RunOptions, IReadOnlyCollection{string}, IReadOnlyCollection{OrtValue}, IReadOnlyCollection{string})"/>
/// on a preallocated input (the output is allocated by ONNX Runtime and disposed after each call, as a caller would).
/// </summary>
internal sealed class OnnxCase : IDisposable
{
    readonly InferenceSession session;
    readonly OrtValue input;
    readonly RunOptions runOptions = new();
    readonly string[] inputNames = { "x" }, outputNames = { "y" };
    readonly OrtValue[] inputs;

    public OnnxCase(string path, int[] shape, int threads)
    {
        using var options = new SessionOptions
        {
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        session = new InferenceSession(path, options);
        long n = 1;
        foreach (int d in shape) n *= d;
        var data = VitData.NormalImages(checked((int)n), 3);
        input = OrtValue.CreateTensorValueFromMemory(data, Array.ConvertAll(shape, d => (long)d));
        inputs = new[] { input };
    }

    public double LastValue { get; private set; }

    public void Run()
    {
        using var outputs = session.Run(runOptions, inputNames, inputs, outputNames);
        LastValue = outputs[0].GetTensorDataAsSpan<float>()[0];
    }

    public void Dispose()
    {
        input.Dispose();
        runOptions.Dispose();
        session.Dispose();
    }

    /// <summary>The exported files by quick-mode case id, with their fixed input shapes.</summary>
    public static readonly IReadOnlyList<(string Id, string Case, int Batch, string File, int[] Shape)> Files = new[]
    {
        ("fashion-vit-forward", "fashion-vit-forward", 128, "fashion_vit_b128.onnx", new[] { 128, 1, 28, 28 }),
        ("vit-tiny-forward-b1", "vit-tiny-forward", 1, "vit_tiny_b1.onnx", new[] { 1, 3, 224, 224 }),
        ("vit-tiny-forward-b8", "vit-tiny-forward", 8, "vit_tiny_b8.onnx", new[] { 8, 3, 224, 224 }),
    };

    public static string PathIn(string dir, string file) => Path.Combine(dir, file);
}
