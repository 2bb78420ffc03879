namespace ModelGen.Generators;

/// <summary>Tracking names of the incremental steps, so tests can see what re-ran.</summary>
public static class StepNames
{
    public const string ParseModels = nameof(ParseModels);
    public const string ParseModules = nameof(ParseModules);
    public const string CheckShapes = nameof(CheckShapes);
    public const string Diagnostics = nameof(Diagnostics);
    public const string ModuleDiagnostics = nameof(ModuleDiagnostics);
    public const string Lower = nameof(Lower);
    public const string ModuleTemplates = nameof(ModuleTemplates);
}
