using System.Collections.Generic;
using System.Linq;
using ModelGen.Generators.Helpers;
using ModelGen.Generators.Model;
using AttentionConfig = ModelGen.Generators.ModelGenerator.Lowerer.AttentionConfig;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    /// <summary>The incremental decoding of a model, or null when it has none: its token input must feed an [Embedding] after which
    /// every layer to the output runs one position at a time (<see cref="Layers.LayerConfig.LowerStep"/>); the layers before the
    /// embedding (an image encoder) are the memory, which a full forward computes once.</summary>
    internal static DecodingPlan? PlanDecoding(CheckedModel model, IReadOnlyList<ParamSpec> parameters)
    {
        int first = model.Layers.ToList().FindIndex(l => l.Config is Layers.EmbeddingRule.Config);
        if (first < 0 || model.EdgeNamed(model.Output) is not { Shape.Count: 2 } output) return null;
        var tokens = model.EdgeNamed(model.Layers[first].Input);
        if (tokens is null || !tokens.IsInput) return null;
        var step = new StepLowerer(tokens.Name, tokens.Shape[0]);
        for (int i = first; i < model.Layers.Count; i++)
        {
            var layer = model.Layers[i];
            if (step.Row(layer.Input) is null || !layer.Config.LowerStep(step, layer)) return null;
        }
        var names = new HashSet<string>(parameters.Select(p => p.Name), System.StringComparer.Ordinal);
        if (step.Row(model.Output) is not { } result || !step.Params.All(names.Contains)) return null;
        return step.Plan(result.Buffer, output.Last);
    }

    /// <summary>Builds one decoding step: a row buffer (batch × width) per chain edge, a key and value cache per self-attention, and
    /// the calls that take the current position from the token ids to the output row.</summary>
    internal sealed class StepLowerer
    {
        readonly Dictionary<string, (string Buffer, int Width)> _rows = new(System.StringComparer.Ordinal);
        readonly List<StepBuffer> _buffers = new();
        readonly List<StepCall> _start = new(), _step = new();
        readonly UniqueNames _names = new(new[] { "tokens" });
        readonly string _tokens;

        public StepLowerer(string tokenInput, int maxTokens)
        {
            _tokens = tokenInput;
            MaxTokens = maxTokens;
            _buffers.Add(new StepBuffer("tokens", 1, "the position's token ids"));
            _rows[tokenInput] = ("tokens", 1);
        }

        /// <summary>The token positions the caches hold: the token input's length.</summary>
        public int MaxTokens { get; }

        /// <summary>Every parameter the step reads, by name (checked against the model's).</summary>
        public HashSet<string> Params { get; } = new(System.StringComparer.Ordinal);

        internal DecodingPlan Plan(string output, int width) => new(_tokens, MaxTokens, output, width, _buffers.ToImmutableEquatableArray(),
            _start.ToImmutableEquatableArray(), _step.ToImmutableEquatableArray());

        /// <summary>The row of a chain edge (one that depends on the tokens), or null for an edge of the memory.</summary>
        public (string Buffer, int Width)? Row(string edge) => _rows.TryGetValue(edge, out var r) ? r : null;

        /// <summary>Makes <paramref name="edge"/> (a layer's output) the row <paramref name="buffer"/>; false when there is none.</summary>
        public bool Bind(string edge, string? buffer)
        {
            if (buffer is null) return false;
            _rows[edge] = (buffer, Width(buffer));
            return true;
        }

        /// <summary>The row buffer a layer reads (its input is on the chain: <see cref="PlanDecoding"/> checked).</summary>
        public string In(CheckedLayer layer) => _rows[layer.Input].Buffer;

        public int Width(string buffer) => (int)_buffers.First(b => b.Name == buffer).PerSample;

        string NewBuffer(string path, long perSample, string comment)
        {
            string name = _names.Take(Shapes.Identifier(path));
            _buffers.Add(new StepBuffer(name, perSample, comment));
            return name;
        }

        string NewRow(string path, int width) => NewBuffer(path, width, path);

        StepArg P(string name)
        {
            Params.Add(name);
            return StepArg.Param(name);
        }

        static StepArg Lit(long v) => StepArg.Lit(Lowerer.Int(v));

        void Call(string method, params StepArg[] args) => _step.Add(new StepCall(method, args.ToImmutableEquatableArray()));

        void StartCall(string method, params StepArg[] args) => _start.Add(new StepCall(method, args.ToImmutableEquatableArray()));

        // ---- per-position ops: the full forward's ops over batch rows of one position ----

        public string Embedding(string path, string tokens, int vocab, int dim, int paddingIndex)
        {
            string y = NewRow(path, dim);
            Call("Embedding.Forward", StepArg.Step(y), StepArg.Step(tokens), P(path + ".weight"), StepArg.Batch, Lit(1), Lit(vocab), Lit(dim), Lit(paddingIndex));
            return y;
        }

        /// <summary>Adds row <c>position</c> of the learned table <c>{path}.weight</c>, or of a fixed table (1-D sine-cosine
        /// positions of the full length, <paramref name="fixedTable"/> its initializer).</summary>
        public string Positions(string path, string x, string? fixedTable = null)
        {
            int width = Width(x);
            string y = NewRow(path, width);
            var table = fixedTable is null ? P(path + ".weight") : StepArg.Step(Table(path + ".table", fixedTable, (long)MaxTokens * width, $"{path} positions"));
            Call("Positions.ForwardAt", StepArg.Step(y), StepArg.Step(x), table, StepArg.Position, StepArg.Batch, Lit(width));
            return y;
        }

        /// <summary>A table of the session, computed once when it starts (the full forward's own constant, the same floats).</summary>
        string Table(string path, string initializer, long length, string comment, bool shared = true)
        {
            var existing = shared ? _buffers.FirstOrDefault(b => b.Initializer == initializer) : null;
            if (existing is not null) return existing.Name;
            string name = _names.Take(Shapes.Identifier(path));
            _buffers.Add(new StepBuffer(name, length, comment, initializer));
            return name;
        }

        /// <summary>Rotary positions of the current position, as the full forward's rotation of that row.</summary>
        string Rotate(string path, string x, int heads, int headDim, double theta)
        {
            string thetaText = theta.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
            string table = Table(path, $"global::ModelGen.Ops.Rotary.Table({Lowerer.Int(MaxTokens)}, {Lowerer.Int(headDim)}, {thetaText})",
                (long)MaxTokens * headDim, $"rotary angles of {Lowerer.Int(MaxTokens)} positions");
            string y = NewRow(path, Width(x));
            Call("Rotary.ForwardAt", StepArg.Step(y), StepArg.Step(x), StepArg.Step(table), StepArg.Position, StepArg.Batch, Lit(heads), Lit(headDim));
            return y;
        }

        public string Linear(string path, string x, int inFeatures, int outFeatures, bool bias, string? tiedWeight = null)
        {
            string y = NewRow(path, outFeatures);
            Call("Linear.Forward", StepArg.Step(y), StepArg.Step(x), P(tiedWeight ?? path + ".weight"), bias ? P(path + ".bias") : StepArg.None,
                StepArg.Batch, Lit(inFeatures), Lit(outFeatures));
            return y;
        }

        public string LayerNorm(string path, string x, float eps)
        {
            int dim = Width(x);
            string y = NewRow(path, dim), mean = NewBuffer(path + ".mean", 1, path + " mean"), rstd = NewBuffer(path + ".rstd", 1, path + " 1/σ");
            Call("LayerNorm.Forward", StepArg.Step(y), StepArg.Step(mean), StepArg.Step(rstd), StepArg.Step(x), P(path + ".weight"), P(path + ".bias"),
                StepArg.Batch, Lit(dim), StepArg.Lit(Lowerer.Float(eps)));
            return y;
        }

        public string Elementwise(string op, string path, string x)
        {
            string y = NewRow(path, Width(x));
            Call(op + ".Forward", StepArg.Step(y), StepArg.Step(x), StepArg.Lit("batch * " + Lowerer.Int(Width(x))));
            return y;
        }

        public string Add(string path, string a, string b)
        {
            string y = NewRow(path, Width(a));
            Call("Add.Forward", StepArg.Step(y), StepArg.Step(a), StepArg.Step(b), StepArg.Lit("batch * " + Lowerer.Int(Width(a))));
            return y;
        }

        /// <summary>fc1 with its activation, fc2: the MLP as the full forward computes it (dropout is off when decoding).</summary>
        public string FeedForward(string path, string x, int dim, int hidden, Activation activation)
        {
            string h = NewRow(path + ".act", hidden), pre = NewRow(path + ".fc1", hidden);
            Call("LinearActivation.Forward", StepArg.Step(h), StepArg.Step(pre), StepArg.Step(x), P(path + ".fc1.weight"), P(path + ".fc1.bias"), StepArg.Batch,
                Lit(dim), Lit(hidden), StepArg.Lit(activation != Activation.Relu ? "global::ModelGen.Ops.LinearActivation.GeluKind" : "global::ModelGen.Ops.LinearActivation.ReluKind"));
            return Linear(path + ".fc2", h, hidden, dim, bias: true);
        }

        /// <summary>Causal self-attention of the position: its keys and values join the caches (keys rotated first under rotary
        /// positions), its query reads every cached position. Null for an attention the step cannot carry (not causal, score
        /// biases, masks).</summary>
        public string? SelfAttention(string path, string x, AttentionConfig c)
        {
            bool rotary = c.RotaryBase > 0;
            if (!c.Causal || c.Mask is not null) return null;
            string? scoreBias = c.Positions is RelativePositions.None or RelativePositions.Rotary ? null : ScoreBias(path, c);
            if (c.Positions is not (RelativePositions.None or RelativePositions.Rotary) && scoreBias is null) return null;
            int kWidth = c.KvHeads * c.KeyDim, vWidth = c.KvHeads * c.ValueDim;
            string q = Linear(path + ".q_proj", x, c.Width, c.Heads * c.KeyDim, c.Bias);
            string k = Linear(path + ".k_proj", x, c.Width, kWidth, c.Bias);
            if (rotary)
            {
                q = Rotate(path + ".q_rope", q, c.Heads, c.KeyDim, c.RotaryBase);
                k = Rotate(path + ".k_rope", k, c.KvHeads, c.KeyDim, c.RotaryBase);
            }
            string v = Linear(path + ".v_proj", x, c.Width, vWidth, c.Bias);
            string kCache = NewBuffer(path + ".key_cache", (long)MaxTokens * kWidth, $"{path} keys of every position");
            string vCache = NewBuffer(path + ".value_cache", (long)MaxTokens * vWidth, $"{path} values of every position");
            Call("CachedAttention.Append", StepArg.Step(kCache), StepArg.Step(vCache), StepArg.Step(k), StepArg.Step(v), StepArg.Position, StepArg.Batch,
                Lit(MaxTokens), Lit(kWidth), Lit(vWidth));
            string o = NewRow(path + ".heads", c.Heads * c.ValueDim);
            var bias = scoreBias is null ? StepArg.None : StepArg.Step(scoreBias);
            Call("CachedAttention.Attend", StepArg.Step(o), StepArg.Step(q), StepArg.Step(kCache), StepArg.Step(vCache), StepArg.None,
                bias, bias.Kind == StepArgKind.Absent ? Lit(0) : StepArg.Position, StepArg.Lit("position + 1"), Lit(MaxTokens), StepArg.Batch, Lit(c.Heads), Lit(c.KvHeads), Lit(c.KeyDim), Lit(c.ValueDim), Scale(c));
            return Linear(path + ".out_proj", o, c.Heads * c.ValueDim, c.Width, c.Bias);
        }

        /// <summary>The self-attention's score bias over the whole sequence (heads, N, N), whose row of the position a step adds:
        /// ALiBi's constant biases, or the learned relative bias looked up once when the session starts. Null for what a step
        /// cannot carry (Shaw's relative keys, adaptive spans). Layers that share a relative bias share its table.</summary>
        string? ScoreBias(string path, AttentionConfig c)
        {
            string n = Lowerer.Int(MaxTokens), h = Lowerer.Int(c.Heads);
            long size = (long)c.Heads * MaxTokens * MaxTokens;
            switch (c.Positions)
            {
                case RelativePositions.Alibi:
                    return Table(path + ".alibi", $"global::ModelGen.Ops.RelativeBias.Alibi({h}, {n}, {n})", size, $"{path} ALiBi biases");
                case RelativePositions.RelativeBias:
                {
                    string biasPath = path + ".relative_attention_bias";
                    string existing = Shapes.Identifier(biasPath);
                    if (_buffers.Any(b => b.Name == existing)) return existing;
                    string index = Table(biasPath + ".index",
                        $"global::ModelGen.Ops.RelativeBias.T5Index({n}, {n}, {Lowerer.Int(c.Buckets)}, {Lowerer.Int(c.MaxDistance)}, bidirectional: false)",
                        (long)MaxTokens * MaxTokens, $"{path} T5 buckets");
                    string bias = Table(biasPath, $"new float[{Lowerer.Int(size)}]", size, $"{path} learned relative bias", shared: false);
                    StartCall("RelativeBias.Forward", StepArg.Step(bias), P(biasPath + ".weight"), StepArg.Step(index), Lit(1), Lit(c.Heads), Lit(MaxTokens), Lit(MaxTokens));
                    return bias;
                }
                default:
                    return null;
            }
        }

        /// <summary>Cross-attention of the position to a memory of the full forward: the memory's keys and values are projected
        /// once when decoding starts. Null when the memory depends on the tokens.</summary>
        public string? CrossAttention(string path, string x, string memory, string? memoryMask, AttentionConfig c)
        {
            if (Row(memory) is not null || c.RotaryBase > 0 || c.Positions != RelativePositions.None || c.Mask is not null) return null;
            int kWidth = c.KvHeads * c.KeyDim, vWidth = c.KvHeads * c.ValueDim;
            string q = Linear(path + ".q_proj", x, c.Width, c.Heads * c.KeyDim, c.Bias);
            string k = NewBuffer(path + ".memory_keys", (long)c.Keys * kWidth, $"{path} keys of the memory");
            string v = NewBuffer(path + ".memory_values", (long)c.Keys * vWidth, $"{path} values of the memory");
            StartCall("Linear.Forward", StepArg.Step(k), StepArg.Arena(memory), P(path + ".k_proj.weight"), c.Bias ? P(path + ".k_proj.bias") : StepArg.None,
                StepArg.Lit("batch * " + Lowerer.Int(c.Keys)), Lit(c.KeyWidth), Lit(kWidth));
            StartCall("Linear.Forward", StepArg.Step(v), StepArg.Arena(memory), P(path + ".v_proj.weight"), c.Bias ? P(path + ".v_proj.bias") : StepArg.None,
                StepArg.Lit("batch * " + Lowerer.Int(c.Keys)), Lit(c.ValueWidth), Lit(vWidth));
            string o = NewRow(path + ".heads", c.Heads * c.ValueDim);
            Call("CachedAttention.Attend", StepArg.Step(o), StepArg.Step(q), StepArg.Step(k), StepArg.Step(v), memoryMask is null ? StepArg.None : StepArg.Arena(memoryMask),
                // A causal cross-attention (as the full forward's) lets position t read the memory's first t + 1 keys (fuzz seed 50306).
                StepArg.None, Lit(0), c.Causal ? StepArg.Lit($"global::System.Math.Min({Lowerer.Int(c.Keys)}, position + 1)") : Lit(c.Keys), Lit(c.Keys), StepArg.Batch, Lit(c.Heads), Lit(c.KvHeads), Lit(c.KeyDim), Lit(c.ValueDim), Scale(c));
            return Linear(path + ".out_proj", o, c.Heads * c.ValueDim, c.Width, c.Bias);
        }

        /// <summary>A stack's layers one after another ("{path}.layers.{i}"); null when one of them cannot step.</summary>
        internal static string? Stack(StepLowerer s, string path, string x, int depth, System.Func<StepLowerer, string, string, string?> layer)
        {
            string? y = x;
            for (int i = 0; i < depth && y is not null; i++) y = layer(s, $"{path}.layers.{i}", y);
            return y;
        }

        static StepArg Scale(AttentionConfig c) => StepArg.Lit(Lowerer.Float((float)(1.0 / System.Math.Sqrt(c.KeyDim))));
    }
}
