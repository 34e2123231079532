using System.Globalization;

namespace FastSelfReward.Checkpoints;

/// <summary>The folder is held by another process (<see cref="FolderLock"/>).</summary>
public sealed class FolderInUseException(string message, Exception inner) : IOException(message, inner);

/// <summary>
/// An exclusive hold on a folder that one process writes (a run folder, a train-lm output), for as
/// long as the object lives. It is the operating system's lock on <see cref="FileName"/> (flock,
/// through .NET's <see cref="FileShare.None"/>), so a process that dies, however it dies, releases
/// it: a stale lock cannot block. The holder's process id is written beside it, in
/// <see cref="HolderFileName"/>, for the message a second process gets.
/// </summary>
public sealed class FolderLock : IDisposable
{
    /// <summary>The locked file inside the folder.</summary>
    public const string FileName = ".fsr-lock";

    /// <summary>The holder's process id, written once the lock is taken (the locked file cannot be read by others).</summary>
    public const string HolderFileName = ".fsr-lock.holder";

    // flock's EWOULDBLOCK (EAGAIN), which .NET reports as the IOException's HResult on Linux.
    private const int WouldBlock = 11;

    private readonly FileStream _stream;

    private FolderLock(string folder, FileStream stream)
    {
        Folder = folder;
        _stream = stream;
    }

    /// <summary>The folder held.</summary>
    public string Folder { get; }

    /// <summary>Takes the folder (creating it when absent), or fails at once when another process holds it.</summary>
    /// <exception cref="FolderInUseException">Another process (or another hold in this one) has the folder; the message names it and the holder.</exception>
    public static FolderLock Acquire(string folder)
    {
        folder = Path.GetFullPath(folder);
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, FileName);
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (e.HResult == WouldBlock || e.HResult == unchecked((int)0x80070020))
        {
            string holder = File.Exists(Path.Combine(folder, HolderFileName))
                ? File.ReadAllText(Path.Combine(folder, HolderFileName)).Trim() : "";
            string who = int.TryParse(holder, NumberStyles.None, CultureInfo.InvariantCulture, out int pid) ? $"process {pid}" : "another process";
            throw new FolderInUseException($"{folder} is in use by {who}: one fsr process at a time may write a folder; wait for it to end or stop it", e);
        }
        Data.AtomicFile.WriteAllText(Path.Combine(folder, HolderFileName), Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
        return new FolderLock(folder, stream);
    }

    /// <summary>
    /// Releases the folder. The lock's files go first and the lock itself last: a process that takes
    /// the folder in between finds a new lock file while this one is only closing, having written
    /// its last; the other order would let two processes lock the same file.
    /// </summary>
    public void Dispose()
    {
        File.Delete(Path.Combine(Folder, HolderFileName));
        File.Delete(Path.Combine(Folder, FileName));
        _stream.Dispose();
    }
}
