using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using ModelGen.Cpu;
using Xunit;

namespace ModelGen.Tests.Cpu;

public class WorkersTests
{
    [Fact]
    public void EveryIndexRunsExactlyOnce_AcrossManyLoopsOfEverySize()
    {
        // Small counts (one index per claim), large ones (runs of indices per claim) and loops back to back, where a
        // worker still finishing one loop must not take an index of the next.
        foreach (int count in new[] { 1, 2, 3, 5, 8, 17, 100, 1000, 4099 })
        {
            var hits = new int[count];
            for (int rep = 0; rep < 200; rep++) Workers.For(count, i => Interlocked.Increment(ref hits[i]));
            Assert.All(hits, h => Assert.Equal(200, h));
        }
        int total = 0;
        for (int rep = 0; rep < 20000; rep++) Workers.For(rep % 7 + 1, _ => Interlocked.Increment(ref total));
        Assert.Equal(Enumerable.Range(0, 20000).Sum(r => r % 7 + 1), total);
    }

    /// <summary>A loop that finds the team busy (another thread owns it) runs on the thread pool, and still throws the body's
    /// own exception, not a wrapper (a CI run once met this when two test classes ran loops at once).</summary>
    [Fact]
    public async Task AnExceptionIsTheBodysOwn_WhenTheTeamIsBusy()
    {
        using var inside = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var owner = Task.Run(() => Workers.For(2, i =>
        {
            if (i != 0) return;
            inside.Set();
            release.Wait();
        }));
        Assert.True(inside.Wait(TimeSpan.FromSeconds(30)));
        try
        {
            var e = Assert.Throws<InvalidOperationException>(() => Workers.For(8, i =>
            {
                if (i == 3) throw new InvalidOperationException("index 3 failed");
            }));
            Assert.Equal("index 3 failed", e.Message);
        }
        finally
        {
            release.Set();
            await owner;
        }
    }

    [Fact]
    public void AnExceptionIsRethrownAfterTheOtherIndicesFinish()
    {
        var done = new int[64];
        var e = Assert.Throws<InvalidOperationException>(() => Workers.For(64, i =>
        {
            if (i == 5) throw new InvalidOperationException("index 5 failed");
            Interlocked.Increment(ref done[i]);
        }));
        Assert.Equal("index 5 failed", e.Message);
        Assert.Equal(63, done.Sum());
        // The team is still usable.
        int after = 0;
        Workers.For(10, _ => Interlocked.Increment(ref after));
        Assert.Equal(10, after);
    }

    [Fact]
    public void NestedLoopsAndConcurrentCallersComplete()
    {
        var hits = new int[8 * 16];
        Workers.For(8, i => Workers.For(16, j => Interlocked.Increment(ref hits[i * 16 + j])));
        Assert.All(hits, h => Assert.Equal(1, h));

        var sums = new long[4];
        Parallel.For(0, 4, caller =>
        {
            for (int rep = 0; rep < 300; rep++) Workers.For(33, i => Interlocked.Add(ref sums[caller], i));
        });
        Assert.All(sums, s => Assert.Equal(300L * (32 * 33 / 2), s));
    }

    [Fact]
    public void ALoopAfterTheWorkersFellAsleepStillRunsEverything()
    {
        Workers.For(4, _ => { });
        Thread.Sleep(50); // far past the spin time: the workers block on their semaphore
        var hits = new int[40];
        Workers.For(40, i => Interlocked.Increment(ref hits[i]));
        Assert.All(hits, h => Assert.Equal(1, h));
    }
}
