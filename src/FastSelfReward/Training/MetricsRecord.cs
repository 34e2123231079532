namespace FastSelfReward.Training;

/// <summary>
/// One logged measurement of a training run: a train step or an evaluation. Values use the names
/// TRL logs (<c>loss</c>, <c>grad_norm</c>, <c>learning_rate</c>, <c>rewards/margins</c>, ...); an
/// evaluation prefixes them with <c>eval_</c>, as TRL's trainers do.
/// </summary>
/// <param name="Phase"><c>train</c> or <c>eval</c>.</param>
/// <param name="Step">Optimizer steps taken when the values were measured.</param>
/// <param name="Epoch">The epoch the step belongs to (0-based).</param>
/// <param name="Values">Metric name to value.</param>
public sealed record MetricsRecord(string Phase, long Step, int Epoch, IReadOnlyDictionary<string, double> Values);

/// <summary>How a call to a trainer's Run ended.</summary>
/// <param name="Steps">Optimizer steps taken in all (a resumed run counts those before the checkpoint).</param>
/// <param name="ResumedFromStep">The checkpoint's step when the run resumed, else null.</param>
/// <param name="LastTrain">The last train step's values, or null when no step ran in this call.</param>
/// <param name="LastEval">The final evaluation's values, or null when there was nothing to evaluate.</param>
public sealed record TrainingSummary(long Steps, long? ResumedFromStep, IReadOnlyDictionary<string, double>? LastTrain,
    IReadOnlyDictionary<string, double>? LastEval);
