namespace FastSelfReward.Cli;

/// <summary>An argument the parser accepted but the verb cannot use; exits with code 2.</summary>
public sealed class UsageException(string message) : Exception(message);
