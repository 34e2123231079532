using System.Diagnostics;
using FastSelfReward.Checkpoints;

namespace FastSelfReward.Tests.Checkpoints;

public sealed class FolderLockTests
{
    [Fact]
    public void A_second_hold_is_refused_at_once_naming_the_folder_and_the_holder_and_a_released_folder_is_free()
    {
        using var dir = new ScratchFolder();
        string folder = Path.Combine(dir.Path, "run");
        using (var first = FolderLock.Acquire(folder))
        {
            var clock = Stopwatch.StartNew();
            var error = Assert.Throws<FolderInUseException>(() => FolderLock.Acquire(folder));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), "the second hold waited instead of failing");
            Assert.Contains(folder, error.Message);
            Assert.Contains($"process {Environment.ProcessId}", error.Message);
        }
        Assert.False(File.Exists(Path.Combine(folder, FolderLock.FileName)), "the lock file outlived its hold");
        Assert.False(File.Exists(Path.Combine(folder, FolderLock.HolderFileName)), "the holder file outlived its hold");
        using var again = FolderLock.Acquire(folder);
    }

    /// <summary>
    /// Another process holds the folder with the same OS lock (flock(1) from util-linux stands in for
    /// a second fsr); once it is killed, as a crash or kill -9 would end fsr, the folder is free.
    /// </summary>
    [Fact]
    public void A_holder_in_another_process_blocks_until_it_is_killed_and_no_longer()
    {
        using var dir = new ScratchFolder();
        string lockFile = Path.Combine(dir.Path, FolderLock.FileName);
        // --close: the command does not inherit the lock, so flock alone holds it, as one fsr would.
        var info = new ProcessStartInfo("flock", ["--exclusive", "--close", lockFile, "--command", "echo locked; sleep 120"])
        {
            RedirectStandardOutput = true, UseShellExecute = false,
        };
        using var holder = Process.Start(info)!;
        Assert.Equal("locked", holder.StandardOutput.ReadLine());
        File.WriteAllText(Path.Combine(dir.Path, FolderLock.HolderFileName), $"{holder.Id}\n");

        var error = Assert.Throws<FolderInUseException>(() => FolderLock.Acquire(dir.Path));
        Assert.Contains($"process {holder.Id}", error.Message);

        holder.Kill(entireProcessTree: true);
        holder.WaitForExit();
        using var taken = FolderLock.Acquire(dir.Path);
        Assert.Equal($"{Environment.ProcessId}", File.ReadAllText(Path.Combine(dir.Path, FolderLock.HolderFileName)).Trim());
    }
}
