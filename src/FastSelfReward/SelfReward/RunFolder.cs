using FastSelfReward.Compute;
using FastSelfReward.Distributed;
using FastSelfReward.Reporting;

namespace FastSelfReward.SelfReward;

/// <summary>
/// Opens run folders. A folder's run.json is its whole configuration, written once when the run
/// starts; every later opening must agree with it, so a changed setting is an error rather than a
/// silently different run.
/// </summary>
public static class RunFolder
{
    /// <summary>The configuration file inside a run folder.</summary>
    public const string ConfigFileName = "run.json";

    /// <summary>Whether <paramref name="folder"/> holds a started run (its run.json).</summary>
    public static bool IsStarted(string folder) => File.Exists(Path.Combine(folder, ConfigFileName));

    /// <summary>
    /// Opens the run in <paramref name="folder"/>: with the stored run.json, which
    /// <paramref name="config"/>, when given, must agree with; or, in a folder without one, with
    /// <paramref name="config"/>, stored once the run has opened (a failed first opening stores nothing).
    /// </summary>
    /// <param name="folder">The run folder (created when absent).</param>
    /// <param name="config">The configuration to start or to check the run with; null continues the run as it was started.</param>
    /// <param name="configSource">Names <paramref name="config"/> in errors (its file, or a preset).</param>
    /// <param name="kernels">The backend.</param>
    /// <param name="progress">Where progress goes.</param>
    /// <param name="log">Where the stages' log lines go.</param>
    /// <param name="acceptChangedInputs">Go on when an input's contents differ from those the run recorded (<see cref="RunInputs"/>).</param>
    /// <param name="world">The ranks running the run together; rank 0 alone writes. Null: this process alone.</param>
    /// <exception cref="InvalidDataException">An input's contents differ from those the run recorded, and changes are not accepted.</exception>
    /// <exception cref="InvalidOperationException"><paramref name="config"/> differs from the stored configuration; the error lists the fields.</exception>
    /// <exception cref="FileNotFoundException">The folder has no run.json and no configuration was given.</exception>
    public static RunContext Open(string folder, RunConfig? config, string configSource, IKernels kernels, IProgressSink progress, TextWriter log,
        bool acceptChangedInputs = false, Communicator? world = null)
    {
        world ??= Communicator.Single;
        folder = Path.GetFullPath(folder);
        string stored = Path.Combine(folder, ConfigFileName);
        bool started = File.Exists(stored);
        if (started)
        {
            var storedConfig = RunConfig.Load(stored);
            // Runs stored before truncated_answers existed were built dropping those answers; they go on so.
            if (System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(stored)) is System.Text.Json.Nodes.JsonObject { } raw && !raw.ContainsKey("truncated_answers"))
                storedConfig = storedConfig with { TruncatedAnswers = TruncatedAnswers.Drop };
            var differences = config is null ? [] : storedConfig.DifferencesFrom(config);
            if (differences.Count > 0)
                throw new InvalidOperationException($"{configSource} differs from {stored}, which this run was started with, in {string.Join(", ", differences)}; " +
                                                    "start a new run folder with it, or continue this run with its own configuration");
            config = storedConfig;
        }
        else if (config is null) throw new FileNotFoundException($"{folder} has no {ConfigFileName}: starting a run needs a configuration", stored);

        // Every rank has read the folder as it was before rank 0 writes to it.
        world.Barrier();
        if (world.IsRoot)
        {
            Directory.CreateDirectory(folder);
            // A record left by a first opening that failed before run.json was stored describes nothing.
            if (!started) File.Delete(Path.Combine(folder, RunInputs.FileName));
        }
        world.Barrier();
        var run = new RunContext(folder, config, kernels, progress, log, acceptChangedInputs, world);
        if (!started && world.IsRoot)
        {
            // Written whole under a temporary name, so a kill never leaves a torn run.json behind.
            Data.AtomicFile.WriteAllText(stored, config.ToJson());
        }
        return run;
    }
}
