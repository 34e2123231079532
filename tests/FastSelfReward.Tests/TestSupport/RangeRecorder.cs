using FastSelfReward.Compute;

namespace FastSelfReward.Tests.TestSupport;

/// <summary>
/// Records the NVTX ranges the current thread opens while it is alive, as a tree, and fails on a
/// close without an open range. Ranges are per thread, so tests running in parallel do not see
/// each other's.
/// </summary>
internal sealed class RangeRecorder : Nvtx.IListener, IDisposable
{
    private readonly Nvtx.IListener? _previous = Nvtx.Listener;
    private readonly Node _root = new("");
    private readonly Stack<Node> _open = new();

    public RangeRecorder()
    {
        _open.Push(_root);
        Nvtx.Listener = this;
    }

    public sealed record Node(string Name)
    {
        public List<Node> Children { get; } = [];

        /// <summary>The name, then the children in brackets: <c>train step[forward, backward, optimizer step]</c>.</summary>
        public override string ToString() => Children.Count == 0 ? Name : $"{Name}[{string.Join(", ", Children)}]";
    }

    /// <summary>The outermost ranges, in the order they were opened.</summary>
    public IReadOnlyList<Node> Ranges => _root.Children;

    /// <summary>Ranges opened and not yet closed.</summary>
    public int Open => _open.Count - 1;

    public void Push(string name)
    {
        var node = new Node(name);
        _open.Peek().Children.Add(node);
        _open.Push(node);
    }

    public void Pop()
    {
        if (_open.Count == 1) throw new InvalidOperationException("an NVTX range was closed that was never opened");
        _open.Pop();
    }

    public void Dispose() => Nvtx.Listener = _previous;
}
