namespace ModelGen.Training;

/// <summary>Updates a model's parameters from their gradients.</summary>
public interface IOptimizer
{
    /// <summary>The learning rate the next <see cref="Step"/> uses (set it from a schedule before each step).</summary>
    float LearningRate { get; set; }

    /// <summary>Steps taken so far.</summary>
    int StepCount { get; }

    /// <summary>Applies one update to every parameter from its current gradient, then marks each parameter changed.</summary>
    void Step();

    /// <summary>Writes the per-parameter state and the step count to a safetensors file (see <see cref="OptimizerState"/>),
    /// so that training can resume exactly where it stopped.</summary>
    void SaveState(string path);

    /// <summary>Restores a state written by <see cref="SaveState"/> for the same kind of optimizer over the same
    /// parameters; on any mismatch nothing changes and the error names it. Hyper-parameters are not restored.</summary>
    void LoadState(string path);
}

/// <summary>An optimizer that can also step on a model's device, over the flat parameter and gradient buffers in one launch,
/// its state living there between steps.</summary>
internal interface IDeviceOptimizer
{
    /// <summary>Whether the next step can run on the device (else it runs on the host, gradients downloaded).</summary>
    bool CanStepOnDevice { get; }

    /// <summary>Gradients are multiplied by scale[0] first (and written back, as clipping leaves them) when <paramref name="clipped"/>.</summary>
    void StepDevice(ModelRuntime runtime, ILGPU.ArrayView<float> scale, bool clipped);
}
