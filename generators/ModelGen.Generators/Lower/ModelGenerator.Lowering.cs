using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using ModelGen.Generators.Helpers;
using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    /// <summary>Lower: every checked layer into primitive ops with constant sizes, plus the buffers and parameters they use.</summary>
    internal static LoweredModel Lower(CheckedModel model)
    {
        if (model.HasErrors || model.Incomplete || model.Output.Length == 0) return LoweredModel.PropertiesOnly(model.Header, model.Incomplete);
        try
        {
            var lowerer = new Lowerer(model);
            foreach (var layer in model.Layers) lowerer.Layer(layer);
            return lowerer.Result();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return LoweredModel.PropertiesOnly(model.Header, incomplete: false, e.GetType().Name + ": " + e.Message);
        }
    }

    /// <summary>Builds the op list. Each primitive op's lowering lives in Lower/Ops/{Op}.cs, beside nothing else.</summary>
    internal sealed partial class Lowerer
    {
        readonly CheckedModel _model;
        readonly List<BufferSpec> _buffers = new();
        readonly Dictionary<string, Edge> _shapes = new(StringComparer.Ordinal);
        readonly List<ParamSpec> _params = new();
        readonly List<ConstantSpec> _constants = new();
        readonly List<LoweredOp> _ops = new();
        readonly Dictionary<string, BufferSpec> _bufferByName = new(StringComparer.Ordinal);
        readonly UniqueNames _bufferNames;
        readonly UniqueNames _fieldNames;
        readonly List<LayerSummary> _summary = new();
        readonly List<InputCheck> _inputChecks = new();
        long _flops;
        int _dropoutSites;

        public Lowerer(CheckedModel model)
        {
            _model = model;
            var paths = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var l in model.Layers) paths[l.Output] = l.Path;
            // Buffers are Buf constants; tables are static fields beside the model's own s_shape_* and s_activations.
            _bufferNames = new UniqueNames(model.Edges.Select(e => e.Name));
            _fieldNames = new UniqueNames(model.Edges.Where(e => e.IsInput).Select(e => "s_shape_" + e.Name).Concat(new[] { "s_activations" }));
            foreach (var e in model.Edges)
            {
                _shapes[e.Name] = e;
                string path = e.IsInput ? e.Name.Substring(3) : paths.TryGetValue(e.Name, out var p) ? p : e.Name;
                AddBuffer(new BufferSpec(e.Name, path, e.Shape, HasGrad: !e.IsMask));
            }
        }

        public LoweredModel Result() => new(_model.Header, _model.Edges.Where(e => e.IsInput).ToImmutableEquatableArray(),
            _model.EdgeNamed(_model.Output), _model.Properties, _buffers.ToImmutableEquatableArray(), _params.ToImmutableEquatableArray(),
            _constants.ToImmutableEquatableArray(), _ops.ToImmutableEquatableArray(), _summary.ToImmutableEquatableArray(),
            InputChecks: _inputChecks.ToImmutableEquatableArray(), Decoding: PlanDecoding(_model, _params));

        /// <summary>Each layer kind lowers itself: its rule's config (Layers/) calls the primitive ops below and in Lower/Ops.</summary>
        public void Layer(CheckedLayer layer)
        {
            int buffers = _buffers.Count, parameters = _params.Count;
            _flops = 0;
            layer.Config.Lower(this, layer);
            // The layer's own output buffer was made from its edge before lowering began; the rest it made itself.
            long activations = _buffers.Skip(buffers).Where(b => !b.DeviceOnly).Sum(b => b.PerSample) + _bufferByName[layer.Output].PerSample;
            long weights = _params.Skip(parameters).Where(p => p.Trainable).Sum(p => p.Shape.Aggregate(1L, (n, d) => n * d));
            _summary.Add(new LayerSummary(layer.Path, layer.Kind, _shapes[layer.Output].Shape, weights, _flops, 4 * activations));
        }

        /// <summary>The sizes of one scaled dot-product attention: the op's own configuration.</summary>
        /// <summary>An attention layer's sizes and options; <paramref name="RotaryBase"/> is 0 without rotary positions;
        /// <paramref name="Buckets"/> and <paramref name="MaxDistance"/> size a learned relative bias; <paramref name="Mask"/> is the
        /// attention mask input, if any.</summary>
        internal sealed record AttentionConfig(int Width, int Heads, int KvHeads, int KeyDim, int ValueDim, bool Causal, bool Bias,
            int Queries, int Keys, int KeyWidth, int ValueWidth, double RotaryBase = 0, RelativePositions Positions = RelativePositions.None,
            int Buckets = 0, int MaxDistance = 0, AttentionMaskInput? Mask = null);

        /// <summary>An attention mask input: its edge, whether nonzero entries mask (else they are added), and its heads (1: shared).</summary>
        internal sealed record AttentionMaskInput(string Edge, bool Boolean, int Heads);

        // ---- helpers for the per-op lowerings ----

        /// <summary>The buffer an op writes: the layer's output edge when given, else a new buffer named after the path.</summary>
        internal string Output(string path, string? output, IReadOnlyList<int> shape)
        {
            if (output is not null) return output;
            string name = _bufferNames.Take(Shapes.Identifier(path));
            var edge = new Edge(name, shape.ToImmutableEquatableArray(), IsMask: false, IsInput: false);
            _shapes[name] = edge;
            AddBuffer(new BufferSpec(name, path, edge.Shape, HasGrad: true));
            return name;
        }

        /// <summary>A buffer kept for backward (statistics, probabilities, masks): no gradient.</summary>
        internal string Saved(string path, string suffix, params int[] dims) => Saved(path, suffix, deviceOnly: false, dims);

        /// <summary>Scratch that only the kernels need (the CPU ops keep their own per-thread scratch).</summary>
        internal string DeviceScratch(string path, string suffix, params int[] dims) => Saved(path, suffix, deviceOnly: true, dims);

        internal string Saved(string path, string suffix, bool deviceOnly, int[] dims)
        {
            string name = _bufferNames.Take(Shapes.Identifier(path) + "_" + suffix);
            AddBuffer(new BufferSpec(name, path + "." + suffix, dims.ToImmutableEquatableArray(), HasGrad: false, deviceOnly));
            return name;
        }

        void AddBuffer(BufferSpec buffer)
        {
            _buffers.Add(buffer);
            _bufferByName[buffer.Name] = buffer;
        }

        internal IReadOnlyList<int> ShapeOf(string buffer) => _shapes[buffer].Shape;

        /// <summary>Rows when the last dimension is the feature dimension: "batch * 16".</summary>
        internal string Rows(string buffer)
        {
            var s = ShapeOf(buffer);
            long lead = 1;
            for (int i = 0; i < s.Count - 1; i++) lead *= s[i];
            return lead == 1 ? "batch" : "batch * " + Int(lead);
        }

        internal string Elements(string buffer) => "batch * " + Int(_shapes[buffer].PerSample);

        int Param(string name, int[] shape, string init, bool decay)
        {
            _params.Add(new ParamSpec(name, shape.ToImmutableEquatableArray(), init, decay));
            return _params.Count - 1;
        }

        /// <summary>A parameter made by an earlier layer, by its name (a tied weight).</summary>
        int ParamNamed(string name)
        {
            int i = _params.FindIndex(p => p.Name == name);
            return i >= 0 ? i : throw new InvalidOperationException($"no parameter '{name}' before its use");
        }

        /// <summary>A check of an input's values that Forward makes first (see <see cref="InputCheck"/>).</summary>
        void CheckInput(string input, string method, params string[] args)
        {
            var check = new InputCheck(input, method, args.ToImmutableEquatableArray());
            if (!_inputChecks.Contains(check)) _inputChecks.Add(check);
        }

        /// <summary>A buffer saved with the parameters but never trained (running statistics).</summary>
        int Buffer(string name, int[] shape, string init)
        {
            _params.Add(new ParamSpec(name, shape.ToImmutableEquatableArray(), init, Decay: false, Trainable: false));
            return _params.Count - 1;
        }

        internal string Constant(string path, string initializer, string comment)
        {
            // The same table (rotary angles of every layer of a stack) is one field.
            foreach (var existing in _constants)
                if (existing.Initializer == initializer) return existing.Name;
            string name = _fieldNames.Take("s_" + Shapes.Identifier(path));
            _constants.Add(new ConstantSpec(name, initializer, comment));
            return name;
        }

        int NextDropoutSite() => _dropoutSites++;

        /// <summary>Adds a primitive op. <paramref name="flops"/>: its forward FLOPs per sample — 2 per multiply-add for matmuls,
        /// convolutions and attention, 0 for ops that only move data; by default one per element of its output (the first buffer
        /// its forward writes).</summary>
        void Op(string comment, Call forward, Call backward, KernelLaunch[] forwardKernels, KernelLaunch[] backwardKernels, long? flops = null,
            string? recomputes = null, KernelLaunch[]? recomputeKernels = null, Call? recomputeCall = null)
        {
            long perSample = flops ?? forward.Args.Where(a => a.Kind == ArgKind.Act).Select(a => _bufferByName[a.Text].PerSample).FirstOrDefault();
            long bytes = 4 * forward.Args.Where(a => a.Kind == ArgKind.Act).Sum(a => _bufferByName[a.Text].PerSample);
            long fixedBytes = 4 * forward.Args.Where(a => a.Kind == ArgKind.Param)
                .Sum(a => _params[int.Parse(a.Text, System.Globalization.CultureInfo.InvariantCulture)].Shape.Aggregate(1L, (n, d) => n * d));
            if (recomputes is not null)
            {
                // Filled on a device only when asked for, so it is allocated only then (attention probabilities: B·H·N² floats).
                int index = _buffers.FindIndex(b => b.Name == recomputes);
                _buffers[index] = _bufferByName[recomputes] = _buffers[index] with { OnRequest = true, HostOnRequest = recomputeCall is not null };
            }
            _ops.Add(new LoweredOp(comment, forward, backward, forwardKernels.ToImmutableEquatableArray(), backwardKernels.ToImmutableEquatableArray(),
                perSample, bytes, fixedBytes, recomputes, recomputeKernels?.ToImmutableEquatableArray(), recomputeCall));
            _flops += perSample;
        }

        static Call Call(string method, params Arg[] args) => new(method, args.ToImmutableEquatableArray());

        /// <summary>A kernel launched over an extent; a body the runtime launches in groups (<see cref="OpSignatures.Grouped"/>) sizes
        /// itself and drops it.</summary>
        static KernelLaunch Kernel(string body, string extent, params Arg[] args) =>
            new(body, OpSignatures.Grouped.Contains(body) ? "" : extent, WithTensorCores(body, args));

        /// <summary>A kernel the runtime launches in explicit groups: its <c>Config</c> twin sizes the launch from the size arguments
        /// (<see cref="OpSignatures.Grouped"/>), so there is no extent.</summary>
        static KernelLaunch GroupKernel(string body, params Arg[] args) => new(body, "", WithTensorCores(body, args));

        /// <summary>A body whose last parameter is <c>tensorCores</c> (every matrix product's) gets the device's choice there.</summary>
        static ImmutableEquatableArray<Arg> WithTensorCores(string body, Arg[] args) =>
            (OpSignatures.Parameters.TryGetValue(body, out var names) && names.Length > 0 && names[names.Length - 1] == "tensorCores"
                ? args.Concat(new[] { Arg.TensorCores }) : args).ToImmutableEquatableArray();

        /// <summary>The model's shared device workspace, as much as <paramref name="floats"/> (an expression over a runtime op's sizes,
        /// e.g. "Linear.BackwardWeightWorkspace(192, 768)") asks.</summary>
        static Arg Workspace(string floats) => Arg.Workspace("global::ModelGen.Ops." + floats);

        /// <summary>The second half of a split-K product (TiledGemm.MultiplySplit): adds the slices' partial (m × n) products into
        /// <paramref name="target"/> (row stride ldc); k, the inner dimension, decides how many slices ran.</summary>
        static KernelLaunch SumSplits(Arg target, int m, int n, Arg k, int ldc) =>
            Kernel("TiledGemm.SumSplitsKernel", Int((long)m * n), target, Arg.Workspace(""), Arg.Lit(Int(m)), Arg.Lit(Int(n)), k, Arg.Lit(Int(ldc))) with
            {
                // Launched only when the product ran in slices (at this batch).
                Guard = $"global::ModelGen.Ops.TiledGemm.Splits({Int(m)}, {Int(n)}, {k.Text}) > 1",
            };

        internal string Comment(string path, string kind, params string[] buffers) =>
            $"{path} ({kind}): " + string.Join(", ", buffers.Take(buffers.Length - 1).Select(b => _shapes[b].Display)) + " -> " + _shapes[buffers[buffers.Length - 1]].Display;

        internal static string Int(long v) => v.ToString(CultureInfo.InvariantCulture);

        internal static string Float(float v)
        {
            string s = v.ToString("R", CultureInfo.InvariantCulture);
            return s + "f";
        }

        internal static string Bool(bool b) => b ? "true" : "false";
    }
}
