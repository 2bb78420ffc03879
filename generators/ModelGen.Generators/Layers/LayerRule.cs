using System;
using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>One layer kind: its shape rule (attribute → typed <see cref="LayerConfig"/> and output shape, or a diagnostic at the
/// argument) and, through the config, its lowering into primitive ops. Every rule is listed once in <see cref="LayerRegistry"/>.</summary>
internal abstract class LayerRule
{
    /// <summary>The attribute class a user writes, e.g. <c>LinearAttribute</c>; its defaults and enums are the only ones.</summary>
    public abstract Type Attribute { get; }

    /// <summary>"Linear" for <c>[Linear]</c>: how messages and <c>Module.Kind</c> name the layer.</summary>
    public string Kind => KindOf(Attribute);

    public static string KindOf(Type attribute) =>
        attribute.Name.EndsWith("Attribute", StringComparison.Ordinal) ? attribute.Name.Substring(0, attribute.Name.Length - "Attribute".Length) : attribute.Name;

    /// <summary>True for the one kind that reads token ids (an input declared with <c>InputKind.Tokens</c>); every other kind reads data.</summary>
    public virtual bool ReadsTokens => false;

    /// <summary>Checks the layer on its input; returns its output edge (made with <see cref="LayerContext.Emit"/>) or null after reporting.</summary>
    public abstract Edge? Check(LayerAttribute attribute, LayerContext context);
}

/// <summary>A rule for one attribute type.</summary>
internal abstract class LayerRule<TAttribute> : LayerRule where TAttribute : LayerAttribute
{
    public sealed override Type Attribute => typeof(TAttribute);

    public sealed override Edge? Check(LayerAttribute attribute, LayerContext context) => Check((TAttribute)attribute, context);

    protected abstract Edge? Check(TAttribute attribute, LayerContext context);
}

/// <summary>A checked layer's configuration: every size resolved, every wire bound to an edge's buffer name. A record, so the
/// checked model is equatable and caches; it lowers itself into primitive ops.</summary>
public abstract record LayerConfig
{
    /// <summary>Lowers the layer reading <see cref="CheckedLayer.Input"/> and writing <see cref="CheckedLayer.Output"/>.</summary>
    internal abstract void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer);

    /// <summary>Lowers one decoding step of the layer: its work for the current position alone, given the rows of the
    /// positions before it only through caches. False when the layer cannot run so (it mixes positions other than causally,
    /// or has an option the step does not carry); the model then has no incremental decoding.</summary>
    internal virtual bool LowerStep(ModelGenerator.StepLowerer step, CheckedLayer layer) => false;
}
