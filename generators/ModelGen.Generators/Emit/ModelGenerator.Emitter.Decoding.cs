using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using ModelGen.Generators.Helpers;
using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    /// <summary>StartDecoding and its DecodingSession: the plan's buffers as fields sized by the batch, its start calls in the
    /// constructor (after the full forward that computes the memory, when the step reads one), its step calls in Step.</summary>
    static void EmitDecoding(SourceWriter w, LoweredModel model, Names names, DecodingPlan plan)
    {
        var spec = model.Header;
        var tokens = model.Inputs.First(e => e.Name == plan.TokenInput);
        var others = model.Inputs.Where(e => e.Name != plan.TokenInput).ToArray();
        bool readsMemory = plan.Start.Concat(plan.Step).Any(c => c.Args.Any(a => a.Kind == StepArgKind.Arena));
        var check = (model.InputChecks ?? ImmutableEquatableArray<InputCheck>.Empty).First(c => c.Input == plan.TokenInput);
        string outputWidth = plan.OutputWidth.ToString(CultureInfo.InvariantCulture), maxTokens = plan.MaxTokens.ToString(CultureInfo.InvariantCulture);
        var fields = new UniqueNames(new[] { "_model", "_batch", "_arena", "Position", "Batch", "MaxTokens", "Step", "Reset" });
        var bufferFields = plan.Buffers.ToDictionary(b => b.Name, b => fields.Take("_" + b.Name));
        var paramFields = model.Parameters.Select((p, i) => (p.Name, Field: names.ParamFields[i])).ToDictionary(p => p.Name, p => p.Field);

        string Arg(StepArg a) => a.Kind switch
        {
            StepArgKind.Step => bufferFields[a.Text],
            StepArgKind.Param => $"_model.{paramFields[a.Text]}.Value",
            StepArgKind.Arena => $"_arena[Buf.{a.Text}]",
            StepArgKind.Position => "position",
            StepArgKind.Batch => "batch",
            StepArgKind.Absent => "null",
            _ => a.Text,
        };
        void Calls(IEnumerable<StepCall> calls)
        {
            foreach (var c in calls) w.Call($"global::ModelGen.Ops.{c.Method}", c.Args.Select(Arg).ToList(), ";");
        }

        string inputs = string.Join(", ", others.Select(e => "global::ModelGen.Tensor " + InputParam(e)));
        w.Line($"/// <summary>Starts incremental decoding: <see cref=\"DecodingSession.Step\"/> takes the token ids of one position at a time (the");
        w.Line($"/// first {maxTokens} positions of '{InputName(tokens)}') and returns that position's output, attending through caches of keys and values to");
        w.Line("/// the positions before it: equal to a full Forward over the ids so far, at the cost of one position. Runs on the CPU backend.");
        if (readsMemory) w.Line("/// The other inputs are read once by a full forward (the memory the decoder attends to); their batch is the session's.</summary>");
        else w.Line("/// </summary>");
        w.Open($"public DecodingSession StartDecoding({(readsMemory ? inputs : "int batch")})");
        w.Line("if (_runtime.OnAccelerator) throw new global::System.NotSupportedException(\"Incremental decoding runs on the CPU backend: create the model with Device.Cpu() and load these parameters into it.\");");
        if (readsMemory)
        {
            var first = others.First(e => !e.IsMask);
            w.Line($"int batch = global::ModelGen.ModelRuntime.BatchOf({InputParam(first)}, \"{InputName(first)}\", s_shape_{first.Name});");
            w.Line("bool training = Training;");
            w.Line("Training = false;");
            var args = model.Inputs.Select(e => e.Name == plan.TokenInput ? $"global::ModelGen.Tensor.Zeros(batch, {maxTokens})" : InputParam(e)).ToList();
            w.Call("Forward", args, ";");
            w.Line("Training = training;");
        }
        else w.Line("if (batch < 1) throw new global::System.ArgumentOutOfRangeException(nameof(batch), batch, \"The batch must be positive.\");");
        w.Line("return new DecodingSession(this, batch);");
        w.Close();
        w.Line();

        w.Line($"/// <summary>One incremental decoding of {spec.ClassName}: caches for {maxTokens} positions of every sample of the batch.</summary>");
        w.Open("public sealed class DecodingSession");
        w.Line($"readonly {spec.ClassName} _model;");
        // The full forward's activations, read by the steps that attend to a memory.
        bool readsArena = plan.Start.Concat(plan.Step).SelectMany(c => c.Args).Any(a => a.Kind == StepArgKind.Arena);
        if (readsArena) w.Line("readonly global::ModelGen.ActivationArena _arena;");
        w.Line("readonly int _batch;");
        foreach (var b in plan.Buffers) w.Line($"readonly float[] {bufferFields[b.Name]}; // {b.Comment}");
        w.Line();
        w.Open($"internal DecodingSession({spec.ClassName} model, int batch)");
        w.Line("_model = model;");
        w.Line("_batch = batch;");
        if (readsArena) w.Line("_arena = model._arena!;");
        foreach (var b in plan.Buffers)
            w.Line(b.Initializer is { } table ? $"{bufferFields[b.Name]} = {table};" : $"{bufferFields[b.Name]} = new float[batch * {b.PerSample.ToString(CultureInfo.InvariantCulture)}];");
        Calls(plan.Start);
        w.Close();
        w.Line();
        w.Line("/// <summary>The samples decoded together.</summary>");
        w.Line("public int Batch => _batch;");
        w.Line();
        w.Line("/// <summary>The position the next Step decodes (0 at the start).</summary>");
        w.Line("public int Position { get; private set; }");
        w.Line();
        w.Line($"/// <summary>The positions the caches hold: {maxTokens}, the length of '{InputName(tokens)}'.</summary>");
        w.Line($"public int MaxTokens => {maxTokens};");
        w.Line();
        w.Line($"/// <summary>Decodes position <see cref=\"Position\"/>: <paramref name=\"ids\"/> holds one token id per sample (batch), the result the");
        w.Line($"/// output of that position (batch, {outputWidth}); the keys and values it computes join the caches for the positions after it.</summary>");
        w.Open("public global::ModelGen.Tensor Step(global::ModelGen.Tensor ids)");
        w.Line("global::System.ArgumentNullException.ThrowIfNull(ids);");
        w.Line("int batch = _batch, position = Position;");
        w.Line($"if (position >= {maxTokens}) throw new global::System.InvalidOperationException($\"All {maxTokens} positions are decoded; start a new session.\");");
        w.Line("if (ids.Data.Length != batch) throw new global::System.ArgumentException($\"ids holds {ids.Data.Length} token ids; the session decodes {batch} samples, one id each.\", nameof(ids));");
        w.Line($"global::ModelGen.Ops.{check.Method}(ids.Data, \"ids\", 1, {check.Args[check.Args.Count - 1]});");
        w.Line($"global::System.Array.Copy(ids.Data, {bufferFields["tokens"]}, batch);");
        Calls(plan.Step);
        w.Line("Position = position + 1;");
        w.Line($"return new global::ModelGen.Tensor(new[] {{ batch, {outputWidth} }}, (float[]){bufferFields[plan.Output]}.Clone());");
        w.Close();
        w.Close();
        w.Line();
    }
}
