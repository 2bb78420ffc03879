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
        var inputs = model.Edges.Where(e => e.IsInput).ToImmutableEquatableArray();
        if (model.Diagnostics.Count > 0 || model.Output.Length == 0)
        {
            return new LoweredModel(model.Spec, inputs, null, model.Properties, ImmutableEquatableArray<BufferSpec>.Empty,
                ImmutableEquatableArray<ParamSpec>.Empty, ImmutableEquatableArray<ConstantSpec>.Empty, ImmutableEquatableArray<LoweredOp>.Empty, model.Diagnostics);
        }
        try
        {
            var lowerer = new Lowerer(model);
            foreach (var layer in model.Layers) lowerer.Layer(layer);
            return lowerer.Result();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            var d = DiagnosticInfo.Create(DiagnosticDescriptors.InternalError, model.Spec.Location, model.Spec.ClassName, e.GetType().Name + ": " + e.Message);
            return new LoweredModel(model.Spec, inputs, null, model.Properties, ImmutableEquatableArray<BufferSpec>.Empty,
                ImmutableEquatableArray<ParamSpec>.Empty, ImmutableEquatableArray<ConstantSpec>.Empty, ImmutableEquatableArray<LoweredOp>.Empty, ImmutableEquatableArray.Create(d));
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
        int _dropoutSites;

        public Lowerer(CheckedModel model)
        {
            _model = model;
            var paths = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var l in model.Layers) paths[l.Output] = l.Path;
            foreach (var e in model.Edges)
            {
                _shapes[e.Name] = e;
                string path = e.IsInput ? e.Name.Substring(3) : paths.TryGetValue(e.Name, out var p) ? p : e.Name;
                _buffers.Add(new BufferSpec(e.Name, path, e.Shape, HasGrad: !e.IsMask));
            }
        }

        public LoweredModel Result() => new(_model.Spec, _model.Edges.Where(e => e.IsInput).ToImmutableEquatableArray(),
            _model.EdgeNamed(_model.Output), _model.Properties, _buffers.ToImmutableEquatableArray(), _params.ToImmutableEquatableArray(),
            _constants.ToImmutableEquatableArray(), _ops.ToImmutableEquatableArray(), ImmutableEquatableArray<DiagnosticInfo>.Empty);

        public void Layer(CheckedLayer layer)
        {
            string input = layer.Wire("input")!;
            switch (layer.Kind)
            {
                case "Linear":
                    Linear(layer.Path, input, layer.Int("In"), layer.Int("Out"), layer.Bool("Bias"), layer.Output);
                    break;
                case "LayerNorm":
                    LayerNorm(layer.Path, input, (float)layer.Double("Eps"), layer.Output);
                    break;
                case "Gelu":
                    Gelu(layer.Path, input, layer.Output);
                    break;
                case "Relu":
                    Relu(layer.Path, input, layer.Output);
                    break;
                case "Dropout":
                    Dropout(layer.Path, input, (float)layer.Double("P"), layer.Output);
                    break;
                case "Residual":
                    Add(layer.Path, input, layer.Wire("from")!, layer.Output);
                    break;
                case "LearnedPositions":
                    LearnedPositions(layer.Path, input, layer.Output);
                    break;
                case "SinusoidalPositions":
                    SinusoidalPositions(layer.Path, input, layer.Int("GridHeight"), layer.Int("GridWidth"), layer.Output);
                    break;
                case "ClassToken":
                    ClassToken(layer.Path, input, layer.Output);
                    break;
                case "ClassifierHead":
                {
                    string pooled = layer.Int("Pool") == 0
                        ? SelectToken(layer.Path + ".pool", input, 0, null)
                        : MeanPool(layer.Path + ".pool", input, null);
                    Linear(layer.Path, pooled, layer.Int("Width"), layer.Int("Classes"), bias: true, layer.Output);
                    break;
                }
                case "PatchEmbedding":
                {
                    int c = layer.Int("Channels"), p = layer.Int("Patch");
                    string patches = Patchify(layer.Path + ".patches", input, c, layer.Int("Height"), layer.Int("Width"), p);
                    Linear(layer.Path + ".proj", patches, c * p * p, layer.Int("Dim"), bias: true, layer.Output, new[] { layer.Int("Dim"), c, p, p });
                    break;
                }
                case "MeanPool":
                    MeanPool(layer.Path, input, layer.Output);
                    break;
                case "FeedForward":
                    FeedForward(layer.Path, input, layer.Int("Dim"), layer.Int("Hidden"), layer.Int("Activation"), (float)layer.Double("Dropout"), layer.Output);
                    break;
                case "MultiHeadAttention":
                    MultiHeadAttention(layer.Path, input, layer.Wire("key")!, layer.Wire("value")!, layer.Wire("mask"), Attention(layer), layer.Output);
                    break;
                case "TransformerEncoderLayer":
                    EncoderLayer(layer.Path, input, layer.Wire("mask"), layer, (float)layer.Double("DropPath"), layer.Output);
                    break;
                case "TransformerEncoder":
                {
                    int depth = layer.Int("Depth");
                    string x = input;
                    // Stochastic depth grows linearly from 0 in the first layer to DropPath in the last, as timm's ViT.
                    double dropPath = layer.Double("DropPath");
                    for (int i = 0; i < depth; i++)
                    {
                        float rate = depth == 1 ? 0f : (float)(dropPath * i / (depth - 1));
                        x = EncoderLayer($"{layer.Path}.layers.{i}", x, layer.Wire("mask"), layer, rate, i == depth - 1 ? layer.Output : null);
                    }
                    break;
                }
                case "Conv2d":
                    Conv2d(layer.Path, input, layer.Int("Out"), layer.Int("Kernel"), layer.Int("Stride"), layer.Int("Padding"), layer.Bool("Bias"), layer.Output);
                    break;
                case "BatchNorm":
                    BatchNorm(layer.Path, input, (float)layer.Double("Momentum"), (float)layer.Double("Eps"), layer.Output);
                    break;
                case "GroupNorm":
                    GroupNorm(layer.Path, input, layer.Int("Groups"), (float)layer.Double("Eps"), layer.Output);
                    break;
                case "Upsample":
                    Upsample(layer.Path, input, layer.Int("Factor"), nearest: layer.Int("Mode") == 1, layer.Output);
                    break;
                case "MaxPool":
                case "AvgPool":
                    Pool(layer.Kind == "MaxPool" ? "Max" : "Avg", layer.Path, input, layer.Int("Kernel"), layer.Int("Stride"), layer.Output);
                    break;
                case "Sigmoid":
                    Sigmoid(layer.Path, input, layer.Output);
                    break;
                case "TokensToMap":
                    TokensToMap(layer.Path, input, layer.Int("Skip"), layer.Int("GridHeight"), layer.Int("GridWidth"), layer.Output);
                    break;
                case "MapToTokens":
                    MapToTokens(layer.Path, input, layer.Output);
                    break;
                case "PixelClassifier":
                    Conv2d(layer.Path, input, layer.Int("Classes"), 1, 1, 0, bias: true, layer.Output);
                    break;
                case "SqueezeExcitation":
                    SqueezeExcitation(layer.Path, input, layer.Int("Reduced"), layer.Output);
                    break;
                case "SpatialAttention":
                    SpatialAttention(layer.Path, input, layer.Int("Kernel"), layer.Output);
                    break;
                case "CoordinateAttention":
                    CoordinateAttention(layer.Path, input, layer.Int("Reduced"), layer.Output);
                    break;
                case "NonLocal":
                    NonLocal(layer.Path, input, layer.Int("Reduced"), layer.Int("Affinity"), layer.Output);
                    break;
                case "SetrDecoder":
                    SetrDecoder(layer.Path, input, layer.Int("Skip"), layer.Int("GridHeight"), layer.Int("GridWidth"), Sizes(layer.Text("Channels")), layer.Int("Classes"),
                        Sizes(layer.Text("Factors")), layer.Output);
                    break;
                case "MaskTransformer":
                    MaskTransformer(layer.Path, input, layer, layer.Output);
                    break;
                case "MaskClassifier":
                    MaskClassifier(layer.Path, input, layer, layer.Output);
                    break;
                default:
                    throw new InvalidOperationException($"no lowering for layer kind '{layer.Kind}'");
            }
        }

        static AttentionConfig Attention(CheckedLayer l) => new(l.Int("Width"), l.Int("Heads"), l.Int("KvHeads"), l.Int("KeyDim"), l.Int("ValueDim"),
            l.Bool("Causal"), l.Bool("Bias"), l.Int("Queries"), l.Int("Keys"), l.Int("KeyWidth"), l.Int("ValueWidth"));

        internal sealed record AttentionConfig(int Width, int Heads, int KvHeads, int KeyDim, int ValueDim, bool Causal, bool Bias,
            int Queries, int Keys, int KeyWidth, int ValueWidth);

        string FeedForward(string path, string x, int dim, int hidden, int activation, float dropout, string? output)
        {
            string h = Linear(path + ".fc1", x, dim, hidden, bias: true, null);
            h = activation == 1 ? Relu(path + ".act", h, null) : Gelu(path + ".act", h, null);
            if (dropout > 0) h = Dropout(path + ".drop", h, dropout, null);
            return Linear(path + ".fc2", h, hidden, dim, bias: true, output);
        }

        /// <summary>Projections initialised as PyTorch's nn.MultiheadAttention: q, k, v weights Xavier-uniform — over the packed
        /// (3·E, E) in_proj_weight when all three are E×E, else each over its own shape — and every bias zero; out_proj's
        /// weight keeps nn.Linear's U(±1/√in).</summary>
        string MultiHeadAttention(string path, string x, string key, string value, string? mask, AttentionConfig c, string? output)
        {
            int qOut = c.Heads * c.KeyDim, kOut = c.KvHeads * c.KeyDim, vOut = c.KvHeads * c.ValueDim;
            bool packed = c.KeyWidth == c.Width && c.ValueWidth == c.Width && qOut == c.Width && kOut == c.Width && vOut == c.Width;
            string Xavier(int fanIn, int fanOut) => "uniform:" + System.Math.Sqrt(6.0 / (fanIn + fanOut)).ToString("R", System.Globalization.CultureInfo.InvariantCulture);
            string q = Linear(path + ".q_proj", x, c.Width, qOut, c.Bias, null,
                weightInit: packed ? Xavier(c.Width, 3 * c.Width) : Xavier(c.Width, qOut), biasInit: "zero");
            string k = Linear(path + ".k_proj", key, c.KeyWidth, kOut, c.Bias, null,
                weightInit: packed ? Xavier(c.Width, 3 * c.Width) : Xavier(c.KeyWidth, kOut), biasInit: "zero");
            string v = Linear(path + ".v_proj", value, c.ValueWidth, vOut, c.Bias, null,
                weightInit: packed ? Xavier(c.Width, 3 * c.Width) : Xavier(c.ValueWidth, vOut), biasInit: "zero");
            string heads = ScaledDotProduct(path + ".heads", q, k, v, mask, c);
            return Linear(path + ".out_proj", heads, c.Heads * c.ValueDim, c.Width, c.Bias, output, biasInit: "zero");
        }

        /// <summary>Pre-norm: x + attn(norm1(x)), then + mlp(norm2(·)). Post-norm: norm1(x + attn(x)), then norm2(· + mlp(·)). As PyTorch's TransformerEncoderLayer.
        /// A drop path rate drops each branch per sample before its residual sum, as timm's Block.</summary>
        string EncoderLayer(string path, string x, string? mask, CheckedLayer l, float dropPath, string? output)
        {
            var c = Attention(l) with { Queries = _shapes[x].Shape[0], Keys = _shapes[x].Shape[0], KeyWidth = l.Int("Width"), ValueWidth = l.Int("Width") };
            int width = c.Width, hidden = l.Int("FeedForward"), activation = l.Int("Activation");
            float dropout = (float)l.Double("Dropout"), eps = (float)l.Double("Eps");
            bool pre = l.Int("Norm") == 0;
            if (pre)
            {
                string n1 = LayerNorm(path + ".norm1", x, eps, null);
                string a = MultiHeadAttention(path + ".attn", n1, n1, n1, mask, c, null);
                if (dropout > 0) a = Dropout(path + ".drop1", a, dropout, null);
                if (dropPath > 0) a = DropPath(path + ".drop_path1", a, dropPath, null);
                string r1 = Add(path + ".res1", x, a, null);
                string n2 = LayerNorm(path + ".norm2", r1, eps, null);
                string f = FeedForward(path + ".mlp", n2, width, hidden, activation, dropout, null);
                if (dropout > 0) f = Dropout(path + ".drop2", f, dropout, null);
                if (dropPath > 0) f = DropPath(path + ".drop_path2", f, dropPath, null);
                return Add(path + ".res2", r1, f, output);
            }
            else
            {
                string a = MultiHeadAttention(path + ".attn", x, x, x, mask, c, null);
                if (dropout > 0) a = Dropout(path + ".drop1", a, dropout, null);
                if (dropPath > 0) a = DropPath(path + ".drop_path1", a, dropPath, null);
                string n1 = LayerNorm(path + ".norm1", Add(path + ".res1", x, a, null), eps, null);
                string f = FeedForward(path + ".mlp", n1, width, hidden, activation, dropout, null);
                if (dropout > 0) f = Dropout(path + ".drop2", f, dropout, null);
                if (dropPath > 0) f = DropPath(path + ".drop_path2", f, dropPath, null);
                return LayerNorm(path + ".norm2", Add(path + ".res2", n1, f, null), eps, output);
            }
        }

        // ---- helpers for the per-op lowerings ----

        /// <summary>The buffer an op writes: the layer's output edge when given, else a new buffer named after the path.</summary>
        string Output(string path, string? output, IReadOnlyList<int> shape)
        {
            if (output is not null) return output;
            string name = Shapes.Identifier(path);
            var edge = new Edge(name, shape.ToImmutableEquatableArray(), IsMask: false, IsInput: false);
            _shapes[name] = edge;
            _buffers.Add(new BufferSpec(name, path, edge.Shape, HasGrad: true));
            return name;
        }

        /// <summary>A buffer kept for backward (statistics, probabilities, masks): no gradient.</summary>
        string Saved(string path, string suffix, params int[] dims) => Saved(path, suffix, deviceOnly: false, dims);

        /// <summary>Scratch that only the kernels need (the CPU ops keep their own per-thread scratch).</summary>
        string DeviceScratch(string path, string suffix, params int[] dims) => Saved(path, suffix, deviceOnly: true, dims);

        string Saved(string path, string suffix, bool deviceOnly, int[] dims)
        {
            string name = Shapes.Identifier(path) + "_" + suffix;
            _buffers.Add(new BufferSpec(name, path + "." + suffix, dims.ToImmutableEquatableArray(), HasGrad: false, deviceOnly));
            return name;
        }

        IReadOnlyList<int> ShapeOf(string buffer) => _shapes[buffer].Shape;

        /// <summary>Rows when the last dimension is the feature dimension: "batch * 16".</summary>
        string Rows(string buffer)
        {
            var s = ShapeOf(buffer);
            long lead = 1;
            for (int i = 0; i < s.Count - 1; i++) lead *= s[i];
            return lead == 1 ? "batch" : "batch * " + Int(lead);
        }

        string Elements(string buffer) => "batch * " + Int(_shapes[buffer].PerSample);

        int Param(string name, int[] shape, string init, bool decay)
        {
            _params.Add(new ParamSpec(name, shape.ToImmutableEquatableArray(), init, decay));
            return _params.Count - 1;
        }

        /// <summary>A buffer saved with the parameters but never trained (running statistics).</summary>
        int Buffer(string name, int[] shape, string init)
        {
            _params.Add(new ParamSpec(name, shape.ToImmutableEquatableArray(), init, Decay: false, Trainable: false));
            return _params.Count - 1;
        }

        string Constant(string path, string initializer, string comment)
        {
            string name = "s_" + Shapes.Identifier(path);
            _constants.Add(new ConstantSpec(name, initializer, comment));
            return name;
        }

        int NextDropoutSite() => _dropoutSites++;

        void Op(string comment, Call forward, Call backward, KernelLaunch[] forwardKernels, KernelLaunch[] backwardKernels) =>
            _ops.Add(new LoweredOp(comment, forward, backward, forwardKernels.ToImmutableEquatableArray(), backwardKernels.ToImmutableEquatableArray()));

        static Call Call(string method, params Arg[] args) => new(method, args.ToImmutableEquatableArray());

        static KernelLaunch Kernel(string body, string extent, params Arg[] args) => new(body, extent, args.ToImmutableEquatableArray());

        string Comment(string path, string kind, params string[] buffers) =>
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
