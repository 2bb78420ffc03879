using System;
using System.Collections.Generic;
using System.Linq;
using ModelGen;
using ModelGen.IO;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Models;

/// <summary>Checkpoints of PyTorch's zoos: torchvision's VisionTransformer, a ViT under timm's names and nn.TransformerEncoder,
/// built with random weights by the peer script, load through the layout's name map into the equivalent declaration and give
/// PyTorch's outputs; saved back, they are PyTorch's state dict; a file that does not fit changes nothing and says why.</summary>
public class TorchCheckpointTests
{
    static (IReadOnlyDictionary<string, SafeTensor> Reference, Dictionary<string, SafeTensor> State, string File) Export(TempDirectory dir, string model,
        params SafeTensor[] inputs)
    {
        var reference = TorchOps.Run(new { op = "zoo", model, seed = 7 }, inputs);
        var state = reference.Where(kv => kv.Key.StartsWith("state.", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key.Substring(6), kv => kv.Value with { Name = kv.Key.Substring(6) });
        string file = dir.File(model + ".safetensors");
        SafeTensors.Save(file, state.Values);
        return (reference, state, file);
    }

    static void SavesAsTheStateDict(ParameterSet parameters, ModelSummary summary, TorchLayout layout, Dictionary<string, SafeTensor> state, TempDirectory dir,
        IReadOnlyDictionary<string, string>? modules = null)
    {
        string back = dir.File("back.safetensors");
        TorchCheckpoint.Save(parameters, summary, back, layout, modules);
        var saved = SafeTensors.Load(back);
        Assert.Equal(state.Keys.OrderBy(k => k, StringComparer.Ordinal), saved.Keys.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (name, t) in state)
        {
            Assert.Equal(t.Shape, saved[name].Shape);
            Assert.Equal(t.Data, saved[name].Data);
        }
    }

    [SkippableTheory]
    [InlineData("torchvision_vit", TorchLayout.Torchvision)]
    [InlineData("timm_vit", TorchLayout.Timm)]
    public void AVisionTransformerCheckpoint_GivesPyTorchsLogits_AndSavesBackAsItsStateDict(string model, TorchLayout layout)
    {
        using var dir = new TempDirectory("zoo");
        var x = ModelData.Random(3, 1f, 2, 3, 32, 32);
        var (reference, state, file) = Export(dir, model, TorchTwin.Named("x", x));
        using var m = new ZooVit(Device.Cpu(), seed: 1);
        TorchCheckpoint.Load(m.Parameters, ZooVit.Summary, file, layout);
        TorchOps.Close(reference, "output", m.Forward(x).Data, tolerance: 1e-4);
        SavesAsTheStateDict(m.Parameters, ZooVit.Summary, layout, state, dir);
    }

    [SkippableFact]
    public void AnNnTransformerEncoderCheckpoint_GivesPyTorchsOutput_AndSavesBackAsItsStateDict()
    {
        // nn.TransformerEncoder saved on its own: its names start at the state dict's root, so the layer maps to "".
        using var dir = new TempDirectory("zoo");
        var x = ModelData.Random(4, 1f, 2, 9, 24);
        var padding = ModelData.Padding(9, 0, 3);
        var (reference, state, file) = Export(dir, "nn_encoder", TorchTwin.Named("x", x), TorchTwin.Named("padding", padding));
        var modules = new Dictionary<string, string> { ["encoder"] = "" };
        Assert.Contains("layers.1.self_attn.in_proj_weight", state.Keys);
        using var m = new PostNormEncoder(Device.Cpu(), seed: 1);
        TorchCheckpoint.Load(m.Parameters, PostNormEncoder.Summary, file, TorchLayout.TorchNn, modules);
        TorchOps.Close(reference, "output", m.Forward(x, padding).Data, tolerance: 1e-4);
        SavesAsTheStateDict(m.Parameters, PostNormEncoder.Summary, TorchLayout.TorchNn, state, dir, modules);
    }

    [SkippableFact]
    public void AnNnTransformerCheckpoint_GivesPyTorchsOutput_AndSavesBackAsItsStateDict()
    {
        // nn.Transformer at the root: encoder.layers.N.self_attn, decoder.layers.N.multihead_attn, linear1/2, norm1..3, and the
        // stacks' final norms.
        using var dir = new TempDirectory("zoo");
        var src = ModelData.Random(8, 1f, 2, 7, 16);
        var tgt = ModelData.Random(9, 1f, 2, 5, 16);
        var (reference, state, file) = Export(dir, "nn_transformer", TorchTwin.Named("x", src), TorchTwin.Named("tgt", tgt));
        var modules = new Dictionary<string, string> { ["model"] = "" };
        Assert.Contains("decoder.layers.1.multihead_attn.in_proj_weight", state.Keys);
        Assert.Contains("decoder.norm.weight", state.Keys);
        using var m = new TinyTransformer(Device.Cpu(), seed: 1);
        TorchCheckpoint.Load(m.Parameters, TinyTransformer.Summary, file, TorchLayout.TorchNn, modules);
        TorchOps.Close(reference, "output", m.Forward(src, tgt).Data, tolerance: 1e-4);
        SavesAsTheStateDict(m.Parameters, TinyTransformer.Summary, TorchLayout.TorchNn, state, dir, modules);
    }

    [Fact]
    public void TheMaps_PackQueriesKeysAndValues_InEachLayout()
    {
        using var m = new ZooVit(Device.Cpu(), seed: 2);
        var torchvision = TorchCheckpoint.Map(m.Parameters, ZooVit.Summary, TorchLayout.Torchvision).ToDictionary(t => t.TorchName);
        var qkv = torchvision["encoder.layers.encoder_layer_1.self_attention.in_proj_weight"];
        Assert.Equal(new[] { 96, 32 }, qkv.TorchShape);
        Assert.Equal(new[] { "encoder.layers.1.attn.q_proj.weight", "encoder.layers.1.attn.k_proj.weight", "encoder.layers.1.attn.v_proj.weight" },
            qkv.Parameters.Select(p => p.Name));
        Assert.Equal(new[] { 1, 17, 32 }, torchvision["encoder.pos_embedding"].TorchShape);
        Assert.Equal("encoder.layers.0.mlp.fc2.weight", torchvision["encoder.layers.encoder_layer_0.mlp.3.weight"].Parameters.Single().Name);
        var timm = TorchCheckpoint.Map(m.Parameters, ZooVit.Summary, TorchLayout.Timm).ToDictionary(t => t.TorchName);
        Assert.Equal(new[] { 96 }, timm["blocks.0.attn.qkv.bias"].TorchShape);
        Assert.Equal("encoder.layers.0.attn.out_proj.weight", timm["blocks.0.attn.proj.weight"].Parameters.Single().Name);
        Assert.Equal(m.Parameters.Count, torchvision.Values.Sum(t => t.Parameters.Count));
        // A decoder's cross-attention to a memory of another width keeps nn.MultiheadAttention's separate projections.
        using var d = new CrossDecoder(Device.Cpu(), seed: 3);
        var nn = TorchCheckpoint.Map(d.Parameters, CrossDecoder.Summary, TorchLayout.TorchNn).ToDictionary(t => t.TorchName);
        Assert.Equal(new[] { 16, 16 }, nn["decoder.layers.0.multihead_attn.q_proj_weight"].TorchShape);
        Assert.Equal(new[] { 16, 12 }, nn["decoder.layers.0.multihead_attn.k_proj_weight"].TorchShape);
        Assert.Equal(new[] { 48 }, nn["decoder.layers.0.multihead_attn.in_proj_bias"].TorchShape);
        Assert.Equal(new[] { 48, 16 }, nn["decoder.layers.0.self_attn.in_proj_weight"].TorchShape);
        Assert.Contains("decoder.layers.0.linear1.weight", nn.Keys);
        Assert.Contains("decoder.layers.0.norm3.weight", nn.Keys);
    }

    [Fact]
    public void AFileThatDoesNotFit_ChangesNothing_AndListsEveryProblem()
    {
        using var dir = new TempDirectory("zoo");
        using var m = new ZooVit(Device.Cpu(), seed: 4);
        string file = dir.File("vit.safetensors");
        TorchCheckpoint.Save(m.Parameters, ZooVit.Summary, file, TorchLayout.Timm);
        var tensors = SafeTensors.Load(file).Values.ToList();
        tensors.RemoveAll(t => t.Name == "head.bias");
        int at = tensors.FindIndex(t => t.Name == "pos_embed");
        tensors[at] = new SafeTensor("pos_embed", new[] { 1, 16, 32 }, new float[16 * 32]);
        tensors.Add(new SafeTensor("blocks.0.ls1.gamma", new[] { 32 }, new float[32]));
        SafeTensors.Save(file, tensors);
        using var fresh = new ZooVit(Device.Cpu(), seed: 5);
        var before = fresh.Parameters.Select(p => p.Value.ToArray()).ToList();
        var e = Assert.Throws<InvalidDataException>(() => TorchCheckpoint.Load(fresh.Parameters, ZooVit.Summary, file, TorchLayout.Timm));
        Assert.Contains("missing 'head.bias' (10) (for 'head.bias')", e.Message);
        Assert.Contains("'pos_embed' is (1, 16, 32) in the file but the model needs (1, 17, 32) (for 'pos.weight')", e.Message);
        Assert.Contains("unmapped 'blocks.0.ls1.gamma' (32)", e.Message);
        Assert.Equal(before, fresh.Parameters.Select(p => p.Value.ToArray()).ToList());
    }

    [Fact]
    public void AModelWithoutACounterpart_IsRefused_NamingTheParameters()
    {
        using var m = new ReformerModel(Device.Cpu(), seed: 6);
        var e = Assert.Throws<InvalidDataException>(() => TorchCheckpoint.Map(m.Parameters, ReformerModel.Summary, TorchLayout.Timm));
        Assert.Contains("'attn.qk_proj.weight' of ReformerAttention 'attn' has no counterpart in the Timm layout", e.Message);
        Assert.Contains("'attn.rotations' (a buffer of ReformerAttention 'attn')", e.Message);
    }
}
