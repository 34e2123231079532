namespace FastSelfReward.Data;

/// <summary>A file of prompts: JSONL records with a <c>prompt</c> field (other fields ignored), or plain text, one prompt per line.</summary>
public static class PromptFile
{
    /// <summary>
    /// Reads the prompts; the format is JSONL when the first non-blank line starts with <c>{</c>.
    /// Blank lines are skipped in both formats.
    /// </summary>
    /// <exception cref="JsonlFormatException">A JSONL record without a string <c>prompt</c>; the message names file and line.</exception>
    /// <exception cref="InvalidDataException">The file holds no prompt.</exception>
    public static List<string> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such prompts file", path);
        string? first = File.ReadLines(path).FirstOrDefault(l => l.Trim().Length > 0);
        List<string> prompts = first is null ? []
            : first.TrimStart('\uFEFF').TrimStart().StartsWith('{') ? Jsonl.Read<PromptTextRecord>(path).Select(r => r.Prompt).ToList()
            : File.ReadLines(path).Where(l => l.Trim().Length > 0).ToList();
        return prompts.Count > 0 ? prompts : throw new InvalidDataException($"{path}: no prompts");
    }
}
