using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace FastSelfReward.Data;

/// <summary>One mistake in a JSON settings file: the field's path as written (<c>sft.learning_rate</c>), its 1-based line (0: not in the file) and what is wrong.</summary>
public sealed record FieldProblem(string Field, int Line, string Message)
{
    /// <summary><c>FILE:LINE: field message</c>, the line left out when the field is not in the file.</summary>
    public string Describe(string file) => $"{file}{(Line > 0 ? $":{Line}" : "")}: {Field} {Message}".TrimEnd();
}

/// <summary>
/// Checks a settings file's JSON against the record type it is read into, before it is read, so
/// that every mistake is reported at once, by the field as the user wrote it, its line, and in
/// words (not "could not be converted to System.Int32"). Field names follow a naming policy (the
/// type's public settable properties, snake_case); <see cref="JsonIgnoreAttribute"/> hides one.
/// </summary>
public static partial class JsonFields
{
    /// <summary>The 1-based line of every property in <paramref name="json"/>, by its dotted path.</summary>
    public static IReadOnlyDictionary<string, int> Lines(ReadOnlySpan<byte> json)
    {
        var lines = new Dictionary<string, int>(StringComparer.Ordinal);
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
        var path = new Stack<string>();
        string? pending = null;
        int line = 1;
        long counted = 0;
        while (reader.Read())
        {
            for (long i = counted; i < reader.TokenStartIndex; i++) if (json[(int)i] == (byte)'\n') line++;
            counted = reader.TokenStartIndex;
            switch (reader.TokenType)
            {
                case JsonTokenType.PropertyName:
                    pending = reader.GetString()!;
                    lines.TryAdd(string.Join('.', path.Reverse().Append(pending)), line);
                    break;
                case JsonTokenType.StartObject:
                    if (pending is not null) path.Push(pending);
                    else if (reader.CurrentDepth > 0) path.Push("[]");
                    pending = null;
                    break;
                case JsonTokenType.EndObject:
                    if (path.Count > 0 && reader.CurrentDepth > 0) path.Pop();
                    break;
                case JsonTokenType.StartArray:
                    path.Push(pending ?? "[]");
                    pending = null;
                    break;
                case JsonTokenType.EndArray:
                    path.Pop();
                    break;
                default:
                    pending = null;
                    break;
            }
        }
        return lines;
    }

    /// <summary>
    /// Every field of <paramref name="root"/> that <typeparamref name="T"/> has no place for or that
    /// holds the wrong kind of value (text for a number, a fraction for a whole number, null where a
    /// value or section is needed, a name outside an enumeration).
    /// </summary>
    public static List<FieldProblem> Check<T>(JsonElement root, JsonNamingPolicy naming, IReadOnlyDictionary<string, int> lines)
    {
        var problems = new List<FieldProblem>();
        if (root.ValueKind != JsonValueKind.Object) problems.Add(new FieldProblem("the file", 1, $"must hold one JSON object, not {Describe(root)}"));
        else CheckObject(root, typeof(T), "", naming, lines, problems);
        return problems;
    }

    /// <summary>A JSON syntax error in words with its 1-based line (the reader's own position suffix dropped).</summary>
    public static FieldProblem Syntax(JsonException error) =>
        new("the file", (int)(error.LineNumber ?? 0) + 1, "is not valid JSON: " + PositionSuffix().Replace(error.Message, "").TrimEnd('.', ' '));

    private static void CheckObject(JsonElement element, Type type, string prefix, JsonNamingPolicy naming, IReadOnlyDictionary<string, int> lines,
        List<FieldProblem> problems)
    {
        var fields = Fields(type, naming);
        foreach (var property in element.EnumerateObject())
        {
            string path = prefix + property.Name;
            int line = lines.GetValueOrDefault(path);
            if (!fields.TryGetValue(property.Name, out var field))
            {
                problems.Add(new FieldProblem(path, line, $"is not a setting{(prefix.Length > 0 ? $" of {prefix.TrimEnd('.')}" : "")}; the settings here are {string.Join(", ", fields.Keys)}"));
                continue;
            }
            string? wrong = Mismatch(property.Value, field.Type, field.Nullable, naming);
            if (wrong is not null) problems.Add(new FieldProblem(path, line, wrong));
            else if (property.Value.ValueKind == JsonValueKind.Object) CheckObject(property.Value, field.Type, path + ".", naming, lines, problems);
        }
    }

    /// <summary>What is wrong with <paramref name="value"/> as a <paramref name="type"/>, or null.</summary>
    private static string? Mismatch(JsonElement value, Type type, bool nullable, JsonNamingPolicy naming)
    {
        var underlying = Nullable.GetUnderlyingType(type);
        if (value.ValueKind == JsonValueKind.Null)
            return nullable || underlying is not null ? null : type.IsClass && type != typeof(string) ? "must be an object, not null" : "must have a value, not null";
        type = underlying ?? type;
        if (type == typeof(int) || type == typeof(long))
            return value.ValueKind == JsonValueKind.Number && (type == typeof(int) ? value.TryGetInt32(out _) : value.TryGetInt64(out _))
                ? null : $"must be a whole number, not {Describe(value)}";
        if (type == typeof(double))
            return value.ValueKind == JsonValueKind.Number ? null : $"must be a number, not {Describe(value)}";
        if (type == typeof(bool))
            return value.ValueKind is JsonValueKind.True or JsonValueKind.False ? null : $"must be true or false, not {Describe(value)}";
        if (type == typeof(string))
            return value.ValueKind == JsonValueKind.String ? null : $"must be text in quotes, not {Describe(value)}";
        if (type.IsEnum)
        {
            var names = Enum.GetNames(type).Select(naming.ConvertName).ToArray();
            return value.ValueKind == JsonValueKind.String && names.Contains(value.GetString()) ? null
                : $"must be one of {string.Join(", ", names)}, not {Describe(value)}";
        }
        return value.ValueKind == JsonValueKind.Object ? null : $"must be an object {{...}}, not {Describe(value)}";
    }

    private static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => $"\"{value.GetString()}\"",
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "a list",
        JsonValueKind.True or JsonValueKind.False => value.ValueKind.ToString().ToLowerInvariant(),
        JsonValueKind.Null => "null",
        _ => value.GetRawText(),
    };

    /// <summary>The settings of <paramref name="type"/> under their JSON names, in declaration order.</summary>
    private static Dictionary<string, (Type Type, bool Nullable)> Fields(Type type, JsonNamingPolicy naming)
    {
        var nullability = new NullabilityInfoContext();
        var fields = new Dictionary<string, (Type, bool)>(StringComparer.Ordinal);
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.SetMethod is not { IsPublic: true } || property.GetCustomAttribute<JsonIgnoreAttribute>() is not null) continue;
            string name = property.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? naming.ConvertName(property.Name);
            fields.TryAdd(name, (property.PropertyType, nullability.Create(property).WriteState == NullabilityState.Nullable));
        }
        return fields;
    }

    [GeneratedRegex(@"\s*(Path: \S*\s*\|\s*)?LineNumber: \d+ \| BytePositionInLine: \d+\.?")]
    private static partial Regex PositionSuffix();
}
