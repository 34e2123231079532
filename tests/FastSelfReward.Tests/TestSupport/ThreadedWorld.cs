using FastSelfReward.Distributed;

namespace FastSelfReward.Tests.TestSupport;

/// <summary>
/// A job of N ranks inside the test process, one thread each, whose collectives meet in shared memory:
/// what takes a <see cref="Communicator"/> (an optimizer's shards, a training run) is tested on several
/// ranks without mpirun, and its state inspected. Sums are added in rank order, as libfsr_mpi adds them.
/// </summary>
public static class ThreadedWorld
{
    /// <summary>Runs <paramref name="body"/> on <paramref name="size"/> ranks at once and returns each rank's result, by rank.</summary>
    /// <exception cref="AggregateException">A rank threw; the others were released from any collective they waited in.</exception>
    public static T[] Run<T>(int size, Func<Communicator, T> body)
    {
        var meeting = new Meeting(size);
        var results = new T[size];
        var errors = new Exception?[size];
        var threads = Enumerable.Range(0, size).Select(rank => new Thread(() =>
        {
            try { results[rank] = body(new ThreadRank(meeting, rank)); }
            catch (Exception e)
            {
                errors[rank] = e;
                meeting.Fail();
            }
        }, maxStackSize: 16 << 20)).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        // The first failure is the cause; the others only saw the meeting broken.
        var failures = errors.Where(e => e is not null).OrderBy(e => e is MeetingBrokenException).ToList();
        if (failures.Count > 0) throw new AggregateException(failures!);
        return results;
    }

    private sealed class MeetingBrokenException() : Exception("another rank failed");

    /// <summary>Where ranks post their inputs; two barriers around every collective keep one call's slots from the next's.</summary>
    private sealed class Meeting(int size)
    {
        private readonly Barrier _barrier = new(size);
        private volatile bool _failed;
        public readonly object?[] Slots = new object?[size];
        public int Size => size;

        public void Fail()
        {
            _failed = true;
            _barrier.Dispose();
        }

        public void Wait()
        {
            try
            {
                if (_failed || !_barrier.SignalAndWait(TimeSpan.FromMinutes(2))) throw new MeetingBrokenException();
            }
            catch (ObjectDisposedException) { throw new MeetingBrokenException(); }
        }

        /// <summary>Posts <paramref name="mine"/>, waits for every rank's, lets <paramref name="read"/> look at all of them, and waits again.</summary>
        public void Exchange(int rank, object mine, Action<object?[]> read)
        {
            Slots[rank] = mine;
            Wait();
            read(Slots);
            Wait();
        }
    }

    private sealed class ThreadRank(Meeting meeting, int rank) : Communicator
    {
        public override int Rank => rank;
        public override int Size => meeting.Size;
        public override int LocalRank => rank;
        public override void Barrier() => meeting.Wait();

        public override void Broadcast(Span<byte> buffer, int root = 0)
        {
            byte[] received = [];
            meeting.Exchange(rank, buffer.ToArray(), slots => received = (byte[])slots[root]!);
            received.CopyTo(buffer);
        }

        public override void AllReduceSum(Span<float> values) => SumInRankOrder(values);

        public override void AllReduceSum(Span<double> values) => SumInRankOrder(values);

        private void SumInRankOrder<T>(Span<T> values) where T : System.Numerics.INumber<T>
        {
            var sum = new T[values.Length];
            Array.Fill(sum, T.Zero);
            meeting.Exchange(rank, values.ToArray(), slots =>
            {
                foreach (T[] each in slots.Cast<T[]>())
                    for (int i = 0; i < sum.Length; i++) sum[i] += each[i];
            });
            sum.CopyTo(values);
        }

        public override void ReduceScatterSum(ReadOnlySpan<float> input, Span<float> output)
        {
            int shard = output.Length;
            var sum = new float[shard];
            meeting.Exchange(rank, input.ToArray(), slots =>
            {
                foreach (float[] each in slots.Cast<float[]>())
                    for (int i = 0; i < shard; i++) sum[i] += each[rank * shard + i];
            });
            sum.CopyTo(output);
        }

        public override void AllGather(ReadOnlySpan<float> input, Span<float> output)
        {
            var all = new float[output.Length];
            int length = input.Length;
            meeting.Exchange(rank, input.ToArray(), slots =>
            {
                for (int r = 0; r < slots.Length; r++) ((float[])slots[r]!).CopyTo(all, r * length);
            });
            all.CopyTo(output);
        }

        public override void Abort(int code) => throw new InvalidOperationException($"rank {rank} aborted the job with code {code}");
    }
}
