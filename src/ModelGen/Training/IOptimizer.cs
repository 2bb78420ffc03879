namespace ModelGen.Training;

/// <summary>Updates a model's parameters from their gradients.</summary>
public interface IOptimizer
{
    /// <summary>The learning rate the next <see cref="Step"/> uses (set it from a schedule before each step).</summary>
    float LearningRate { get; set; }

    /// <summary>Applies one update to every parameter from its current gradient, then marks each parameter changed.</summary>
    void Step();
}
