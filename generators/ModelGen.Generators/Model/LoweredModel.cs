using ModelGen.Generators.Helpers;

namespace ModelGen.Generators.Model;

/// <summary>How a call argument is written. Buffers become arrays on the CPU and views in kernels; literals are inlined into kernels.</summary>
public enum ArgKind
{
    /// <summary>An activation buffer.</summary>
    Act,

    /// <summary>The gradient of an activation buffer.</summary>
    Grad,

    /// <summary>A parameter's value (Text is its index).</summary>
    Param,

    /// <summary>A parameter's gradient (Text is its index).</summary>
    ParamGrad,

    /// <summary>A constant, inlined: a size, a flag, a scale.</summary>
    Literal,

    /// <summary>An expression of the run-time batch size, e.g. "batch * 16".</summary>
    Batch,

    /// <summary>A value known only at run time (Type says its C# type): a dropout seed or rate.</summary>
    Runtime,

    /// <summary>An optional buffer that is not there: null on the CPU, a dummy view in kernels.</summary>
    Absent,

    /// <summary>A fixed table computed once per model type (Text is its name): a static array on the CPU, a device copy in kernels.</summary>
    Constant,

    /// <summary>Device scratch shared by every kernel of the model that needs it (split-K partial products); Text is an expression
    /// of the floats this launch may use. Ops run in order on one stream, so one buffer of the largest request serves all.</summary>
    Workspace,

    /// <summary>The device's choice of TF32 tensor cores for matrix products, which a kernel takes as a specialized value, so
    /// ILGPU compiles the one path the device runs.</summary>
    TensorCores,
}

public sealed record Arg(ArgKind Kind, string Text, string Type = "")
{
    public static Arg Act(string buffer) => new(ArgKind.Act, buffer);

    public static Arg Grad(string buffer) => new(ArgKind.Grad, buffer);

    public static Arg Param(int index) => new(ArgKind.Param, index.ToString(System.Globalization.CultureInfo.InvariantCulture));

    public static Arg ParamGrad(int index) => new(ArgKind.ParamGrad, index.ToString(System.Globalization.CultureInfo.InvariantCulture));

    public static Arg Lit(string text) => new(ArgKind.Literal, text);

    public static Arg Rows(string expression) => new(ArgKind.Batch, expression);

    public static Arg Runtime(string expression, string type) => new(ArgKind.Runtime, expression, type);

    public static readonly Arg None = new(ArgKind.Absent, "");

    public static Arg Constant(string name) => new(ArgKind.Constant, name);

    public static Arg Workspace(string floats) => new(ArgKind.Workspace, floats);

    public static readonly Arg TensorCores = new(ArgKind.TensorCores, "");
}

/// <summary>A call into a runtime op on the CPU backend: <c>global::ModelGen.Ops.{Method}(args)</c>.</summary>
public sealed record Call(string Method, ImmutableEquatableArray<Arg> Args);

/// <summary>A launch of a runtime kernel body over an extent (an expression of the batch); when <paramref name="Guard"/> is
/// given (a C# condition over the batch), only where it holds.</summary>
public sealed record KernelLaunch(string Body, string Extent, ImmutableEquatableArray<Arg> Args, string? Guard = null);

/// <summary>One primitive op with its forward and backward on both paths, and what its forward costs: FLOPs and bytes per
/// sample (its activations read and written once) and fixed bytes (its parameters and tables), for a roofline. On a device
/// an op may leave a saved buffer unwritten (flash attention keeps the log-sum-exp, not the probabilities): then
/// <see cref="RecomputeKernels"/> fill buffer <see cref="Recomputes"/> when a user asks for it; <see cref="RecomputeCall"/> does so
/// on the CPU backend for an op that leaves it unwritten there too (memory-efficient attention over long sequences).</summary>
public sealed record LoweredOp(
    string Comment,
    Call Forward,
    Call Backward,
    ImmutableEquatableArray<KernelLaunch> ForwardKernels,
    ImmutableEquatableArray<KernelLaunch> BackwardKernels,
    long Flops = 0,
    long BytesPerSample = 0,
    long FixedBytes = 0,
    string? Recomputes = null,
    ImmutableEquatableArray<KernelLaunch>? RecomputeKernels = null,
    Call? RecomputeCall = null);

/// <summary>An activation or saved buffer: its C# name, dotted path (what users ask for), per-sample shape. Gradients exist for data activations only;
/// a device-only buffer is scratch for kernels and takes no memory on the CPU backend; an on-request buffer is one a device's passes
/// do not write (attention probabilities under flash attention), filled and allocated there only when <c>Intermediate</c> asks.</summary>
/// <see cref="HostOnRequest"/>: the CPU backend's passes do not write it either.
public sealed record BufferSpec(string Name, string Path, ImmutableEquatableArray<int> Dims, bool HasGrad, bool DeviceOnly = false, bool OnRequest = false,
    bool HostOnRequest = false)
{
    public long PerSample
    {
        get
        {
            long n = 1;
            foreach (int d in Dims) n *= d;
            return n;
        }
    }

    public string Shape => Shapes.Format(Dims, batch: true);
}

/// <summary>What one declared layer costs, known at compile time: its output shape, trainable parameters, forward FLOPs per sample
/// (2 per multiply-add in matmuls, convolutions and attention; 1 per output element of other ops; 0 for ops that only move data)
/// and the bytes of the activations it keeps per sample (float32, saved statistics included).</summary>
public sealed record LayerSummary(string Path, string Kind, ImmutableEquatableArray<int> Shape, long Parameters, long Flops, long ActivationBytes);

/// <summary>A fixed table: a static field initialised with a call into the runtime.</summary>
public sealed record ConstantSpec(string Name, string Initializer, string Comment);

/// <summary>A parameter: state_dict name, shape and PyTorch's default initialisation.</summary>
public sealed record ParamSpec(string Name, ImmutableEquatableArray<int> Shape, string Init, bool Decay, bool Trainable = true);

/// <summary>A check of an input's values that Forward makes before it runs: <c>global::ModelGen.Ops.{Method}(input.Data, "name", args)</c>
/// (token ids against an embedding's vocabulary), on the host on both paths, since a kernel cannot refuse bad input.</summary>
public sealed record InputCheck(string Input, string Method, ImmutableEquatableArray<string> Args);

/// <summary>The output of lowering: everything the emitter needs, and nothing it has to work out.</summary>
public sealed record LoweredModel(
    ModelHeader Header,
    ImmutableEquatableArray<Edge> Inputs,
    Edge? Output,
    ImmutableEquatableArray<PropertySpec> Properties,
    ImmutableEquatableArray<BufferSpec> Buffers,
    ImmutableEquatableArray<ParamSpec> Parameters,
    ImmutableEquatableArray<ConstantSpec> Constants,
    ImmutableEquatableArray<LoweredOp> Ops,
    ImmutableEquatableArray<LayerSummary> Summary,
    string? InternalError = null,
    bool Incomplete = false,
    ImmutableEquatableArray<InputCheck>? InputChecks = null,
    DecodingPlan? Decoding = null)
{
    /// <summary>Nothing to run: the model has errors (reported at shape checking), an argument that does not compile, or is a module.</summary>
    public static LoweredModel PropertiesOnly(ModelHeader header, bool incomplete, string? internalError = null) =>
        new(header, ImmutableEquatableArray<Edge>.Empty, null, ImmutableEquatableArray<PropertySpec>.Empty, ImmutableEquatableArray<BufferSpec>.Empty,
            ImmutableEquatableArray<ParamSpec>.Empty, ImmutableEquatableArray<ConstantSpec>.Empty, ImmutableEquatableArray<LoweredOp>.Empty,
            ImmutableEquatableArray<LayerSummary>.Empty, internalError, incomplete);
}

/// <summary>What a decoding step's call reads or writes: a step buffer (batch rows of its width), a parameter's value by its
/// name, a buffer of the last full forward (a memory the decoder reads), a literal, the step's position, or nothing.</summary>
public enum StepArgKind { Step, Param, Arena, Literal, Position, Batch, Absent }

public sealed record StepArg(StepArgKind Kind, string Text)
{
    public static StepArg Step(string buffer) => new(StepArgKind.Step, buffer);
    public static StepArg Param(string name) => new(StepArgKind.Param, name);
    public static StepArg Arena(string buffer) => new(StepArgKind.Arena, buffer);
    public static StepArg Lit(string text) => new(StepArgKind.Literal, text);
    public static readonly StepArg Position = new(StepArgKind.Position, "");
    public static readonly StepArg Batch = new(StepArgKind.Batch, "");
    public static readonly StepArg None = new(StepArgKind.Absent, "");
}

/// <summary>A runtime op called by a decoding step (CPU backend): <c>global::ModelGen.Ops.{Method}(args)</c>.</summary>
public sealed record StepCall(string Method, ImmutableEquatableArray<StepArg> Args);

/// <summary>A buffer of one decoding session: batch × <paramref name="PerSample"/> floats (a row, or a cache of every position), or
/// with an <paramref name="Initializer"/> a table of the session (rotary angles, sine-cosine positions) computed when it starts.</summary>
public sealed record StepBuffer(string Name, long PerSample, string Comment, string? Initializer = null);

/// <summary>Incremental decoding of a model whose token input feeds a causal chain to the output: <see cref="Start"/> runs once
/// after a full forward (the keys and values of a fixed memory), <see cref="Step"/> once per position, reading the position's
/// token ids from buffer "tokens" and leaving its output row in <see cref="Output"/>; the self-attention caches hold every
/// position up to <see cref="MaxTokens"/>.</summary>
public sealed record DecodingPlan(string TokenInput, int MaxTokens, string Output, int OutputWidth, ImmutableEquatableArray<StepBuffer> Buffers,
    ImmutableEquatableArray<StepCall> Start, ImmutableEquatableArray<StepCall> Step);
