using System;
using ILGPU;
using ILGPU.Runtime;

namespace ModelGen.Training;

/// <summary>
/// An optimizer's per-parameter state (AdamW's two moments, SGD's momentum) kept twice: host arrays, one per parameter, and
/// device buffers laid out like the model's flat parameter buffer (<see cref="ModelRuntime.Offset"/>). Whichever side stepped
/// last holds the newest values; the other is refreshed in one copy per slot only when it is read.
/// </summary>
internal sealed class DeviceSlots
{
    readonly ParameterSet _parameters;
    readonly float[][][] _host;
    MemoryBuffer1D<float, Stride1D.Dense>[]? _device;
    ModelRuntime? _runtime;
    bool _hostStale, _deviceStale = true;

    /// <param name="parameters">The parameters the state belongs to.</param>
    /// <param name="host">The host arrays of each slot, one per parameter (empty for an untrainable buffer).</param>
    public DeviceSlots(ParameterSet parameters, params float[][][] host)
    {
        _parameters = parameters;
        _host = host;
    }

    /// <summary>Before a host step or a read of the host arrays: brings device-newer values down (one copy per slot).</summary>
    public void Pull()
    {
        if (!_hostStale || _runtime is not { } runtime) return;
        runtime.Accelerator.Synchronize();
        var staging = new float[Math.Max(1, runtime.TrainableLength)];
        for (int s = 0; s < _host.Length; s++)
        {
            _device![s].View.CopyToCPU(staging);
            runtime.CountCopy();
            for (int i = 0; i < _parameters.Count; i++)
                if (_parameters[i].Trainable) Array.Copy(staging, runtime.Offset(i), _host[s][i], 0, _host[s][i].Length);
        }
        _hostStale = false;
    }

    /// <summary>After the host arrays changed (a host step, a loaded state): the device copies must be uploaded again.</summary>
    public void HostChanged()
    {
        _hostStale = false;
        _deviceStale = true;
    }

    /// <summary>Slot <paramref name="slot"/>'s device buffer (after <see cref="PrepareDeviceStep"/>).</summary>
    public ArrayView<float> Device(int slot) => _device![slot].View;

    /// <summary>Before a step on <paramref name="runtime"/>'s device: the buffers are allocated there once and uploaded when the
    /// host is newer; after the step the host arrays are stale.</summary>
    public void PrepareDeviceStep(ModelRuntime runtime)
    {
        if (!ReferenceEquals(runtime.Parameters, _parameters))
            throw new ArgumentException("This optimizer updates another parameter set than the model's.", nameof(runtime));
        if (_runtime != runtime)
        {
            // A model's runtime owns (and disposes) the buffers; a new runtime gets its own.
            _device = new MemoryBuffer1D<float, Stride1D.Dense>[_host.Length];
            for (int s = 0; s < _host.Length; s++) _device[s] = runtime.Own(runtime.Accelerator.Allocate1D<float>(Math.Max(1, runtime.TrainableLength)));
            _runtime = runtime;
            _deviceStale = true;
        }
        if (_deviceStale)
        {
            var staging = new float[Math.Max(1, runtime.TrainableLength)];
            for (int s = 0; s < _host.Length; s++)
            {
                Array.Clear(staging);
                for (int i = 0; i < _parameters.Count; i++)
                    if (_parameters[i].Trainable) Array.Copy(_host[s][i], 0, staging, runtime.Offset(i), _host[s][i].Length);
                _device![s].View.CopyFromCPU(staging);
                runtime.CountCopy();
            }
            _deviceStale = false;
        }
        _hostStale = true;
    }
}
