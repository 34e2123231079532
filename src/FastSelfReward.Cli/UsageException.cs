namespace FastSelfReward.Cli;

/// <summary>An argument the parser accepted but the verb cannot use; exits with code 2.</summary>
public sealed class UsageException(string message) : Exception(message)
{
    /// <summary>
    /// A library range error, which begins with the field's snake_case name (<c>top_p must ...</c>),
    /// told in the flag's name (<c>--top-p must ...</c>); <paramref name="flags"/> names the flags
    /// that are not the field's name in kebab case.
    /// </summary>
    public static UsageException ForField(ArgumentException error, IReadOnlyDictionary<string, string>? flags = null)
    {
        string message = error.Message;
        int space = message.IndexOf(' ');
        if (space <= 0) return new UsageException(message);
        string field = message[..space];
        string flag = flags?.GetValueOrDefault(field) ?? "--" + field.Replace('_', '-');
        return new UsageException(flag + message[space..]);
    }
}
