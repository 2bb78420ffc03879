using System.Collections.Generic;
using Microsoft.CodeAnalysis;

namespace ModelGen.Generators;

/// <summary>Every diagnostic the generator reports. Ids are never reused; each has a line in AnalyzerReleases and a page under docs/diagnostics.
/// MG1xxx: declarations. MG2xxx: shapes. MG9xxx: internal.</summary>
public static class DiagnosticDescriptors
{
    const string Declaration = "ModelGen.Declaration";
    const string Shapes = "ModelGen.Shapes";
    const string Internal = "ModelGen.Internal";
    const string HelpBase = "https://github.com/modelgen/modelgen/blob/main/docs/diagnostics/";

    static DiagnosticDescriptor Error(string id, string title, string message, string category) =>
        new(id, title, message, category, DiagnosticSeverity.Error, isEnabledByDefault: true, helpLinkUri: HelpBase + id + ".md");

    public static readonly DiagnosticDescriptor ClassNotPartial = Error("MG1001",
        "Model class must be partial", "'{0}' must be declared partial so ModelGen can generate its forward and backward passes", Declaration);

    public static readonly DiagnosticDescriptor LayerPropertyInvalid = Error("MG1002",
        "Layer property must be a partial get-only Module property",
        "Layer '{0}' must be declared as 'public partial Module {0} {{ get; }}'", Declaration);

    public static readonly DiagnosticDescriptor UnknownWiring = Error("MG1003",
        "Unknown wiring name", "Layer {0} reads '{1}', which is neither an input nor a layer of '{2}' (known: {3})", Declaration);

    public static readonly DiagnosticDescriptor WiringCycle = Error("MG1004",
        "Wiring forms a cycle", "Layer {0} reads '{1}', which is computed {2}: data flows in declaration order, so this would be a cycle", Declaration);

    public static readonly DiagnosticDescriptor ModuleCycle = Error("MG1005",
        "Modules use each other in a cycle", "Module use forms a cycle: {0}", Declaration);

    public static readonly DiagnosticDescriptor NoInput = Error("MG1006",
        "Model declares no input", "'{0}' declares no data [Input]{1}; the first layer has nothing to read", Declaration);

    public static readonly DiagnosticDescriptor NoLayers = Error("MG1007",
        "Model declares no layers", "'{0}' declares no layer properties", Declaration);

    public static readonly DiagnosticDescriptor DuplicateName = Error("MG1008",
        "Duplicate edge name", "'{0}' is already used by {1}", Declaration);

    public static readonly DiagnosticDescriptor NotAModule = Error("MG1009",
        "Used type is not a [Module]", "[Use(typeof({0}))] needs a class marked [Module]", Declaration);

    public static readonly DiagnosticDescriptor MultipleLayerAttributes = Error("MG1010",
        "A property has more than one layer attribute", "Layer '{0}' has {1} layer attributes; give each layer its own property", Declaration);

    public static readonly DiagnosticDescriptor InputNameNotIdentifier = Error("MG1011",
        "Input name is not an identifier", "Input name '{0}' is not a C# identifier; it becomes a parameter of Forward", Declaration);

    public static readonly DiagnosticDescriptor ReservedLayerName = Error("MG1012",
        "Layer name is taken by the generated class",
        "Layer '{0}' has the name of a member ModelGen generates (Forward, Backward, Parameters, Device, Training, Intermediate, InputGradient, OutputShape, Summary, Dispose, or a name starting with '_', 's_' or 'K' and a digit); rename the property", Declaration);

    public static readonly DiagnosticDescriptor NonPositiveSize = Error("MG2001",
        "Size or rate out of range", "{0} of {1} is {2}; it must be {3}", Shapes);

    public static readonly DiagnosticDescriptor DimNotDivisibleByHeads = Error("MG2002",
        "Width not divisible by heads", "Layer '{0}': width {1} is not divisible by Heads {2}", Shapes);

    public static readonly DiagnosticDescriptor HeadsNotDivisibleByKvHeads = Error("MG2003",
        "Query heads not divisible by key-value heads", "Layer '{0}': Heads {1} is not divisible by KvHeads {2}", Shapes);

    public static readonly DiagnosticDescriptor ShapeMismatch = Error("MG2004",
        "Shapes disagree", "Layer '{0}' expects {1} but '{2}' gives {3}", Shapes);

    public static readonly DiagnosticDescriptor KeyValueLengthMismatch = Error("MG2005",
        "Cross-attention keys and values disagree",
        "Layer '{0}': keys from '{1}' are {2} but values from '{3}' are {4}; keys and values need the same length", Shapes);

    public static readonly DiagnosticDescriptor MaskLengthMismatch = Error("MG2006",
        "Mask length disagrees with the keys", "Layer '{0}': key padding mask '{1}' has length {2} but the keys have length {3}", Shapes);

    public static readonly DiagnosticDescriptor NotAMask = Error("MG2007",
        "Wrong kind of input", "Layer '{0}' uses '{1}' as {2}, but it is declared as {3}", Shapes);

    public static readonly DiagnosticDescriptor RankMismatch = Error("MG2008",
        "Wrong rank", "Layer '{0}' needs {1} but '{2}' gives {3}", Shapes);

    public static readonly DiagnosticDescriptor ImageNotDivisibleByPatch = Error("MG2009",
        "Image size not divisible by the patch size", "Layer '{0}': image {1} is not divisible by Patch {2} ({3})", Shapes);

    public static readonly DiagnosticDescriptor PositionsDoNotFit = Error("MG2010",
        "Sinusoidal positions do not fit", "Layer '{0}': {1}", Shapes);

    public static readonly DiagnosticDescriptor ChannelsNotDivisible = Error("MG2011",
        "Channels not divisible", "Layer '{0}': {1} channels are not divisible by {2} {3}", Shapes);

    public static readonly DiagnosticDescriptor UpsamplingMissesResolution = Error("MG2012",
        "Upsampling does not reach the input resolution",
        "Layer '{0}': {1} takes the {2} patch grid to {3}, but the image input '{4}' is {5}", Shapes);

    public static readonly DiagnosticDescriptor OutputResolutionMismatch = Error("MG2013",
        "Decoder output resolution differs from the input",
        "Layer '{0}' would give per-pixel logits at {1} (from '{2}'), but the image input '{3}' is {4}; upsample the decoder to the input's resolution", Shapes);

    public static readonly DiagnosticDescriptor TokensDoNotFormGrid = Error("MG2014",
        "Tokens do not form the grid", "Layer '{0}': '{3}' has {1} tokens; without the {2} skipped that leaves {4}, which do not form {5}", Shapes);

    public static readonly DiagnosticDescriptor WindowDoesNotFit = Error("MG2015",
        "Window larger than the map", "Layer '{0}': a {1}×{1} window with padding {2} does not fit '{3}' of size {4}", Shapes);

    public static readonly DiagnosticDescriptor MaskTokensMismatch = Error("MG2016",
        "Mask tokens differ from the classes", "Layer '{0}': {1} mask tokens for {2} classes; a mask transformer predicts one mask per class token", Shapes);

    public static readonly DiagnosticDescriptor RotaryOddHeadWidth = Error("MG2017",
        "Rotary positions need an even head width", "Layer '{0}': rotary positions rotate feature pairs, but the head width is {1}; make KeyDim (or width / Heads) even", Shapes);

    public static readonly DiagnosticDescriptor RelativePositionsNeedSelfAttention = Error("MG2018",
        "Relative positions need self-attention", "Layer '{0}': {1} positions compare the positions of queries and keys in one sequence, but the keys come from '{2}'; use them on self-attention", Shapes);

    public static readonly DiagnosticDescriptor AttentionMaskShapeMismatch = Error("MG2019",
        "Attention mask shape disagrees with the scores",
        "Layer '{0}': attention mask '{1}' is {2}, but the scores are {3} queries by {4} keys in {5} heads; declare it as ({3}, {4}) or ({5}, {3}, {4})", Shapes);

    public static readonly DiagnosticDescriptor DecoderNeedsMemory = Error("MG2020",
        "Decoder needs a memory", "Layer '{0}': a Transformer decoder cross-attends to a memory; name it with Memory = \"...\" (an input or an earlier layer of shape (tokens, width))", Shapes);

    public static readonly DiagnosticDescriptor LinformerMixesTokens = Error("MG2021",
        "Linformer attention cannot mask or position keys",
        "Layer '{0}': Linformer projects the {1} keys onto {2} mixtures of all of them, so {3} cannot apply to them; use MultiHeadAttention for causal, padded or masked sequences and relative positions", Shapes);

    public static readonly DiagnosticDescriptor PerformerFormsNoScores = Error("MG2022",
        "Performer attention forms no scores to mask or bias",
        "Layer '{0}': Performer estimates softmax attention with {1} random features and never forms the {2}×{2} scores, so {3} cannot apply to them; use MultiHeadAttention (memory-efficient on long sequences) for attention masks and score biases, or a KeyPaddingMask and rotary positions with Performer", Shapes);

    public static readonly DiagnosticDescriptor SparseBlockDoesNotDivide = Error("MG2023",
        "The sparse attention block does not divide the tokens",
        "Layer '{0}': sparse attention splits the {1} tokens into blocks of {2}, but {2} does not divide {1}; choose a block that divides the tokens (e.g. {3})", Shapes);

    public static readonly DiagnosticDescriptor SparseAttentionScores = Error("MG2024",
        "Sparse attention computes only its pattern's blocks",
        "Layer '{0}': sparse attention computes only the blocks of its pattern, so {1} cannot apply to the scores; use MultiHeadAttention (memory-efficient on long sequences) for attention masks and score biases, or a KeyPaddingMask and rotary positions with sparse attention", Shapes);

    public static readonly DiagnosticDescriptor TransformerNeedsTarget = Error("MG2025",
        "A Transformer needs a target sequence",
        "Layer '{0}': an encoder–decoder Transformer decodes a target sequence; name it with Target = \"...\" (an input or an earlier layer, (B, tokens, {1}))", Shapes);

    public static readonly DiagnosticDescriptor TiedToNotEmbedding = Error("MG2026",
        "A tied weight needs an embedding", "Layer '{0}' ties its weight to '{1}', which is {2}; only an [Embedding] layer's table can be tied", Shapes);

    public static readonly DiagnosticDescriptor TiedShapeMismatch = Error("MG2027",
        "The tied table does not fit", "Layer '{0}' would use the table of '{1}', ({2}, {3}) as (vocab, dim), as its weight (out {4}, in {5}): the out features must be the vocabulary and the incoming width the embedding's", Shapes);

    public static readonly DiagnosticDescriptor ReformerChunkDoesNotDivide = Error("MG2028",
        "The Reformer chunk does not divide the tokens",
        "Layer '{0}': Reformer attention sorts the {1} tokens of a hash round into chunks of {2}, but {2} does not divide {1}; choose a chunk that divides the tokens (e.g. {3})", Shapes);

    public static readonly DiagnosticDescriptor ReformerScores = Error("MG2029",
        "Reformer attention hashes its keys",
        "Layer '{0}': Reformer attention shares its queries and keys and scores each token only against its hash chunks, so {1} cannot apply; use MultiHeadAttention (memory-efficient on long sequences) for attention masks, relative positions and grouped key/value heads, or Causal and KeyPaddingMask with Reformer", Shapes);

    public static readonly DiagnosticDescriptor PatchMergingOddGrid = Error("MG2030",
        "Patch merging needs an even grid",
        "Layer '{0}': patch merging joins 2×2 neighbours of the {1}×{2} grid of '{3}', but its {4} is odd; merge a grid of even height and width (pad the map, or change the patch size)", Shapes);

    public static readonly DiagnosticDescriptor InternalError = Error("MG9001",
        "ModelGen internal error", "ModelGen failed on '{0}': {1}. Please report this with the declaration.", Internal);

    static readonly Dictionary<string, DiagnosticDescriptor> s_byId = new()
    {
        [ClassNotPartial.Id] = ClassNotPartial,
        [LayerPropertyInvalid.Id] = LayerPropertyInvalid,
        [UnknownWiring.Id] = UnknownWiring,
        [WiringCycle.Id] = WiringCycle,
        [ModuleCycle.Id] = ModuleCycle,
        [NoInput.Id] = NoInput,
        [NoLayers.Id] = NoLayers,
        [DuplicateName.Id] = DuplicateName,
        [NotAModule.Id] = NotAModule,
        [MultipleLayerAttributes.Id] = MultipleLayerAttributes,
        [InputNameNotIdentifier.Id] = InputNameNotIdentifier,
        [ReservedLayerName.Id] = ReservedLayerName,
        [NonPositiveSize.Id] = NonPositiveSize,
        [DimNotDivisibleByHeads.Id] = DimNotDivisibleByHeads,
        [HeadsNotDivisibleByKvHeads.Id] = HeadsNotDivisibleByKvHeads,
        [ShapeMismatch.Id] = ShapeMismatch,
        [KeyValueLengthMismatch.Id] = KeyValueLengthMismatch,
        [MaskLengthMismatch.Id] = MaskLengthMismatch,
        [NotAMask.Id] = NotAMask,
        [RankMismatch.Id] = RankMismatch,
        [ImageNotDivisibleByPatch.Id] = ImageNotDivisibleByPatch,
        [PositionsDoNotFit.Id] = PositionsDoNotFit,
        [ChannelsNotDivisible.Id] = ChannelsNotDivisible,
        [UpsamplingMissesResolution.Id] = UpsamplingMissesResolution,
        [OutputResolutionMismatch.Id] = OutputResolutionMismatch,
        [TokensDoNotFormGrid.Id] = TokensDoNotFormGrid,
        [WindowDoesNotFit.Id] = WindowDoesNotFit,
        [MaskTokensMismatch.Id] = MaskTokensMismatch,
        [RotaryOddHeadWidth.Id] = RotaryOddHeadWidth,
        [RelativePositionsNeedSelfAttention.Id] = RelativePositionsNeedSelfAttention,
        [AttentionMaskShapeMismatch.Id] = AttentionMaskShapeMismatch,
        [DecoderNeedsMemory.Id] = DecoderNeedsMemory,
        [LinformerMixesTokens.Id] = LinformerMixesTokens,
        [PerformerFormsNoScores.Id] = PerformerFormsNoScores,
        [SparseBlockDoesNotDivide.Id] = SparseBlockDoesNotDivide,
        [SparseAttentionScores.Id] = SparseAttentionScores,
        [TransformerNeedsTarget.Id] = TransformerNeedsTarget,
        [TiedToNotEmbedding.Id] = TiedToNotEmbedding,
        [TiedShapeMismatch.Id] = TiedShapeMismatch,
        [ReformerChunkDoesNotDivide.Id] = ReformerChunkDoesNotDivide,
        [ReformerScores.Id] = ReformerScores,
        [PatchMergingOddGrid.Id] = PatchMergingOddGrid,
        [InternalError.Id] = InternalError,
    };

    public static IEnumerable<DiagnosticDescriptor> All => s_byId.Values;

    public static DiagnosticDescriptor ById(string id) => s_byId[id];
}
