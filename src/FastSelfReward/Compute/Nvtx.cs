using System.Text;
using FastSelfReward.Interop;

namespace FastSelfReward.Compute;

/// <summary>
/// Named ranges on a profiler's timeline: <c>using var _ = Nvtx.Range("forward");</c> opens a range
/// on the calling thread that closes at the end of the scope, so Nsight Systems
/// (<c>nsys profile --trace=cuda,nvtx</c>) shows which part of the method each stretch of kernels
/// belongs to. The ranges go to NVTX through libfsr_native (native/cpu/nvtx.cpp), in the domain
/// "FastSelfReward", when that library was built with the NVTX3 headers; otherwise a range costs
/// one test of a flag and a thread-static read, and allocates nothing either way.
/// </summary>
/// <remarks>
/// NVTX nests ranges per thread, so a range must be closed on the thread that opened it: open
/// ranges only in synchronous code (never across an <c>await</c>).
/// </remarks>
public static class Nvtx
{
    private static readonly bool s_compiledIn = Probe();

    [ThreadStatic] private static IListener? t_listener;

    /// <summary>True when libfsr_native was built with the NVTX3 headers, so ranges reach an attached profiler.</summary>
    public static bool CompiledIn => s_compiledIn;

    /// <summary>Opens a range named <paramref name="name"/> (ASCII; other characters become '?') until the result is disposed.</summary>
    public static RangeScope Range(string name)
    {
        var listener = t_listener;
        if (!s_compiledIn && listener is null) return default;
        if (s_compiledIn) Push(name);
        listener?.Push(name);
        return new RangeScope(s_compiledIn, listener);
    }

    /// <summary>An open range; disposing it closes the range.</summary>
    public readonly struct RangeScope : IDisposable
    {
        private readonly bool _native;
        private readonly IListener? _listener;

        internal RangeScope(bool native, IListener? listener)
        {
            _native = native;
            _listener = listener;
        }

        public void Dispose()
        {
            _listener?.Pop();
            if (_native) FsrNative.fsr_nvtx_pop();
        }
    }

    /// <summary>
    /// Sees the ranges this thread opens and closes, whether or not NVTX is compiled in: the tests
    /// check where ranges are placed through it. Null when nothing listens.
    /// </summary>
    internal static IListener? Listener
    {
        get => t_listener;
        set => t_listener = value;
    }

    internal interface IListener
    {
        void Push(string name);
        void Pop();
    }

    private static unsafe void Push(string name)
    {
        // Range names are short, so the message lives on the stack: a tool reads it during the call only.
        int length = Encoding.ASCII.GetMaxByteCount(name.Length) + 1;
        Span<byte> message = length <= 256 ? stackalloc byte[length] : new byte[length];
        message[Encoding.ASCII.GetBytes(name, message)] = 0;
        fixed (byte* p = message) FsrNative.fsr_nvtx_push(p);
    }

    private static bool Probe()
    {
        // A profiling aid must never be the reason a run fails: a missing or older library means no ranges.
        try { return FsrNative.fsr_nvtx_enabled() != 0; }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return false; }
    }
}
