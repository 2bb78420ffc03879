using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Text.RegularExpressions;
using ILGPU;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using Xunit;

namespace ModelGen.Tests.Devices;

/// <summary>
/// Every kernel of every model compiled in this assembly (the examples' models, ViT-Tiny and the test models) is
/// compiled to PTX through ILGPU's PTX backend, with no GPU: a construct the backend cannot emit fails here, not on the
/// device (the first run found every Gelu, Sigmoid, Softmax and Attention kernel failing: the contexts lacked ILGPU.Algorithms'
/// intrinsics for <c>MathF.Exp</c>). The settings are the devices' own (<see cref="Device.GpuSettings"/>); the target is what
/// ILGPU 1.5.3 picks on an H100/H200 (sm_80 code, which the driver JITs to sm_90).
/// </summary>
public class PtxGenerationTests
{
    static readonly Regex s_kernelBody = new(@"^K\d+_\w+Body$", RegexOptions.CultureInvariant);

    public static IEnumerable<object[]> Models() =>
        typeof(PtxGenerationTests).Assembly.GetTypes()
            .Where(t => KernelBodies(t).Any())
            .OrderBy(t => t.FullName, StringComparer.Ordinal)
            .Select(t => new object[] { t.FullName! });

    static IEnumerable<MethodInfo> KernelBodies(Type t) =>
        t.GetMethods(BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.DeclaredOnly).Where(m => s_kernelBody.IsMatch(m.Name));

    [Theory]
    [MemberData(nameof(Models))]
    public void EveryKernel_CompilesToPtx(string model)
    {
        var type = typeof(PtxGenerationTests).Assembly.GetType(model)!;
        using var context = Context.Create(b => Device.GpuSettings(b));
        using var backend = new PTXBackend(context, CudaArchitecture.SM_80, CudaInstructionSet.ISA_80, nvvmAPI: null!);
        var failures = new List<string>();
        int compiled = 0;
        foreach (var body in KernelBodies(type))
        {
            try
            {
                string ptx = Compile(backend, body);
                Assert.Contains(".entry", ptx, StringComparison.Ordinal);
                Assert.Contains(".target sm_80", ptx, StringComparison.Ordinal);
                compiled++;
            }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException)
            {
                failures.Add($"{body.Name}: {DeviceProbe.Describe(e)}");
            }
        }
        Assert.True(failures.Count == 0, $"{failures.Count} of {compiled + failures.Count} kernels of {model} did not compile to PTX:\n" + string.Join("\n", failures));
        Assert.True(compiled > 0);
    }

    static string Compile(PTXBackend backend, MethodInfo body)
    {
        var grouped = body.GetParameters()[0].ParameterType.Name.StartsWith("ArrayView", StringComparison.Ordinal);
        var entry = grouped ? EntryPointDescription.FromExplicitlyGroupedKernel(body) : EntryPointDescription.FromImplicitlyGroupedKernel(body);
        return ((PTXCompiledKernel)backend.Compile(entry, new KernelSpecialization())).PTXAssembly;
    }

    /// <summary>Every matrix product of the Fashion ViT (linear layers, fused projections, the attention-free GEMMs) carries the
    /// tensor-core path in its PTX (compiled here unspecialized, so both paths are present): TF32 m16n8k8 mma.sync.</summary>
    [Fact]
    public void MatrixProducts_CarryTheTensorCorePath()
    {
        var bodies = KernelBodies(typeof(ModelGen.Examples.FashionMnist.FashionVit))
            .Where(b => b.GetParameters().Any(p => p.ParameterType == typeof(SpecializedValue<int>))).ToList();
        Assert.NotEmpty(bodies);
        using var context = Context.Create(b => Device.GpuSettings(b));
        using var backend = new PTXBackend(context, CudaArchitecture.SM_80, CudaInstructionSet.ISA_80, nvvmAPI: null!);
        foreach (var body in bodies)
            Assert.Contains("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32", Compile(backend, body), StringComparison.Ordinal);
    }

    [Fact]
    public void TheExamplesModels_AreAmongThoseCompiled()
    {
        var models = Models().Select(m => (string)m[0]).ToList();
        Assert.Contains(typeof(ModelGen.Examples.FashionMnist.FashionVit).FullName, models);
        Assert.Contains(typeof(ModelGen.Examples.Segmentation.GarmentSetr).FullName, models);
        Assert.Contains(typeof(ModelGen.Examples.Segmentation.GarmentSegmenter).FullName, models);
    }
}
