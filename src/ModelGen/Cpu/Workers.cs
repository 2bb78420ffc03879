using System;
using System.Diagnostics;
using System.Runtime.ExceptionServices;
using System.Threading;
using System.Threading.Tasks;

namespace ModelGen.Cpu;

/// <summary>
/// A fixed team of worker threads for the CPU backend's parallel loops. A forward pass hands work to the other cores a
/// hundred times or more, at batch 1 each time for a few tens of microseconds of work, so a hand-off must cost a
/// microsecond or two, not the ~15 µs measured here for <see cref="Parallel.For(int, int, Action{int})"/>: between
/// loops the workers spin on the loop counter for a short while before they sleep.
/// <para>The calling thread takes part, so a loop finishes even if no worker is awake. A loop started from inside a
/// loop, or while another thread owns the team, runs on <see cref="Parallel.For(int, int, Action{int})"/>, so callers
/// never wait on each other. <c>MODELGEN_PARALLEL=pool</c> in the environment sends every loop there (no spinning threads).</para>
/// </summary>
public static class Workers
{
    /// <summary>How long an idle worker spins before it sleeps (a later loop then pays a wake-up of tens of microseconds).</summary>
    const long SpinMicroseconds = 200;

    static readonly int s_threads = Environment.ProcessorCount;
    static readonly bool s_pool = Environment.GetEnvironmentVariable("MODELGEN_PARALLEL") == "pool";
    static readonly object s_gate = new();
    static readonly SemaphoreSlim s_wake = new(0);
    static readonly long s_spinTicks = SpinMicroseconds * Stopwatch.Frequency / 1_000_000;
    static bool s_started;

    // The current loop. s_state holds the loop's generation (high 32 bits) and the next unclaimed index (low 32 bits),
    // so a worker that arrives late can never claim an index of a later loop: its compare-exchange fails.
    static long s_state;
    static Action<int>? s_body;
    static int s_count;
    static int s_done;
    static int s_sleeping;
    static Exception? s_error;

    [ThreadStatic] static bool t_inLoop;

    /// <summary>Runs <paramref name="body"/>(i) for every i in [0, <paramref name="count"/>) across the cores and returns
    /// when all are done. The first exception a body throws is rethrown here once the loop has finished.</summary>
    public static void For(int count, Action<int> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        if (count <= 0) return;
        if (count == 1 || s_threads == 1)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        if (s_pool || t_inLoop || !Monitor.TryEnter(s_gate))
        {
            try
            {
                Parallel.For(0, count, body);
            }
            catch (AggregateException e) when (e.InnerExceptions.Count > 0)
            {
                // The same contract as the team's loop, whichever ran it: the body's own exception, not a wrapper.
                ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
            }
            return;
        }
        try
        {
            if (!s_started) Start();
            long previous = Volatile.Read(ref s_state);
            int generation = (int)(previous >> 32) + 1;
            // Close the previous loop first: a late worker that read its state before this point now fails its
            // compare-exchange instead of claiming an index against the new count.
            Interlocked.Exchange(ref s_state, previous | int.MaxValue);
            s_body = body;
            s_count = count;
            s_done = 0;
            s_error = null;
            // A full fence: the new loop must be visible before s_sleeping is read (a worker announces sleep, then re-checks).
            Interlocked.Exchange(ref s_state, (long)generation << 32);
            int sleeping = Volatile.Read(ref s_sleeping);
            if (sleeping > 0) s_wake.Release(sleeping);
            Work(generation);
            var spin = new SpinWait();
            while (Volatile.Read(ref s_done) < count) spin.SpinOnce(sleep1Threshold: -1);
            s_body = null;
            if (s_error is { } e) ExceptionDispatchInfo.Capture(e).Throw();
        }
        finally
        {
            Monitor.Exit(s_gate);
        }
    }

    static void Start()
    {
        for (int t = 1; t < s_threads; t++)
            new Thread(Loop) { IsBackground = true, Name = "ModelGen worker " + t }.Start();
        s_started = true;
    }

    /// <summary>Claims indices of loop <paramref name="generation"/> until none are left, a run of them at a time when
    /// there are many (one shared-counter update per item would cost more than a small item). The owner cannot finish the
    /// loop while a claimed index runs, so the body read after a successful claim is that loop's.</summary>
    static void Work(int generation)
    {
        t_inLoop = true;
        try
        {
            while (true)
            {
                long state = Volatile.Read(ref s_state);
                int count = Volatile.Read(ref s_count), first = (int)state;
                if ((int)(state >> 32) != generation || first >= count) return;
                int run = Math.Max(1, Math.Min(count - first, count / (8 * s_threads)));
                if (Interlocked.CompareExchange(ref s_state, state + run, state) != state) continue;
                var body = s_body!;
                for (int i = first; i < first + run; i++)
                {
                    try { body(i); }
                    catch (Exception e) { Interlocked.CompareExchange(ref s_error, e, null); }
                }
                Interlocked.Add(ref s_done, run);
            }
        }
        finally
        {
            t_inLoop = false;
        }
    }

    static void Loop()
    {
        int seen = 0;
        while (true)
        {
            long start = Stopwatch.GetTimestamp();
            int generation;
            while ((generation = (int)(Volatile.Read(ref s_state) >> 32)) == seen)
            {
                if (Stopwatch.GetTimestamp() - start < s_spinTicks) { Thread.SpinWait(16); continue; }
                Interlocked.Increment(ref s_sleeping);
                // Re-checked after announcing sleep, so a loop published in between is not missed.
                if ((int)(Volatile.Read(ref s_state) >> 32) == seen) s_wake.Wait();
                Interlocked.Decrement(ref s_sleeping);
                start = Stopwatch.GetTimestamp();
            }
            seen = generation;
            Work(generation);
        }
    }
}
