namespace FastSelfReward.Text;

/// <summary>
/// Renders conversations into token ids for one chat format: <c>llama2</c> ([INST] … [/INST]),
/// <c>llama3</c> (header ids and &lt;|eot_id|&gt;), <c>chatml</c> (&lt;|im_start|&gt; … &lt;|im_end|&gt;) or
/// <c>plain</c> (the text, then the answer and EOS). Ids are built segment by segment, special tokens
/// as ids and text through <see cref="ITextTokenizer.Encode"/>, never by tokenizing a rendered string:
/// so user text cannot forge a special token, BOS appears once, and the prompt/answer boundary (the
/// loss mask) is exact. One renderer serves training, generation and judging.
/// </summary>
public sealed class ChatTemplate
{
    /// <summary>The names <see cref="Create"/> accepts.</summary>
    public static IReadOnlyList<string> Names { get; } = ["llama2", "llama3", "chatml", "plain"];

    private readonly ITextTokenizer _tokenizer;
    private readonly int[] _endOfTurn;

    private ChatTemplate(string name, ITextTokenizer tokenizer, int[] endOfTurn)
    {
        Name = name;
        _tokenizer = tokenizer;
        _endOfTurn = endOfTurn;
        StopIds = endOfTurn.Concat(tokenizer.EosId is int eos ? [eos] : Array.Empty<int>()).Distinct().ToArray();
    }

    /// <summary>The format's name, one of <see cref="Names"/>.</summary>
    public string Name { get; }

    /// <summary>Ids that end generation: the end-of-turn token(s) and the tokenizer's EOS.</summary>
    public IReadOnlyList<int> StopIds { get; }

    /// <summary>Creates the named template, or detects one when <paramref name="name"/> is null or "auto".</summary>
    /// <exception cref="ArgumentException">The name is unknown, or the tokenizer lacks the special tokens the format needs.</exception>
    public static ChatTemplate Create(ITextTokenizer tokenizer, string? name = null)
    {
        if (name is null or "auto") return Detect(tokenizer);
        return name switch
        {
            "llama2" => new ChatTemplate(name, tokenizer, [Eos(tokenizer, name)]).RequiringBos(),
            "llama3" => new ChatTemplate(name, tokenizer, [Special(tokenizer, name, "<|eot_id|>")])
                .Requiring("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>"),
            "chatml" => new ChatTemplate(name, tokenizer, [Special(tokenizer, name, "<|im_end|>")]).Requiring("<|im_start|>"),
            "plain" => new ChatTemplate(name, tokenizer, [Eos(tokenizer, name)]),
            _ => throw new ArgumentException($"unknown chat template '{name}'; expected one of {string.Join(", ", Names)} or auto", nameof(name)),
        };
    }

    /// <summary>Picks the format from the tokenizer's special tokens.</summary>
    /// <exception cref="ArgumentException">No format matches; the message lists what was looked for.</exception>
    public static ChatTemplate Detect(ITextTokenizer tokenizer)
    {
        bool Has(string token) => tokenizer.TryGetSpecialTokenId(token, out _);
        if (Has("<|start_header_id|>") && Has("<|end_header_id|>") && Has("<|eot_id|>") && Has("<|begin_of_text|>"))
            return Create(tokenizer, "llama3");
        if (Has("<|im_start|>") && Has("<|im_end|>")) return Create(tokenizer, "chatml");
        if (tokenizer.TryGetSpecialTokenId("<s>", out int s) && tokenizer.BosId == s
            && tokenizer.TryGetSpecialTokenId("</s>", out int e) && tokenizer.EosId == e)
            return Create(tokenizer, "llama2");
        throw new ArgumentException(
            "cannot detect a chat template: the tokenizer has none of <|start_header_id|>/<|eot_id|> (llama3), "
            + "<|im_start|>/<|im_end|> (chatml) or <s>/</s> as BOS/EOS (llama2); choose one of "
            + string.Join(", ", Names));
    }

    /// <summary>Renders a single-turn prompt, with an optional system message and answer.</summary>
    public ChatTokens Render(string prompt, string? answer = null, string? system = null)
    {
        var messages = new List<ChatMessage>();
        if (system is not null) messages.Add(new ChatMessage(ChatRole.System, system));
        messages.Add(new ChatMessage(ChatRole.User, prompt));
        return Render(messages, answer);
    }

    /// <summary>
    /// Renders <paramref name="conversation"/> (which must end with a user turn) as the prompt, and
    /// <paramref name="answer"/>, when given, as the answer: its text then the end-of-turn token.
    /// Earlier assistant turns belong to the prompt.
    /// </summary>
    public ChatTokens Render(IReadOnlyList<ChatMessage> conversation, string? answer = null)
    {
        if (conversation.Count == 0 || conversation[^1].Role != ChatRole.User)
            throw new ArgumentException("a conversation must end with a user message", nameof(conversation));
        for (int i = 1; i < conversation.Count; i++)
            if (conversation[i].Role == ChatRole.System)
                throw new ArgumentException($"message {i}: a system message may only come first", nameof(conversation));
        var prompt = new List<int>();
        var answerIds = new List<int>();
        switch (Name)
        {
            case "llama2": Llama2(conversation, prompt); break;
            case "llama3": Llama3(conversation, prompt); break;
            case "chatml": ChatMl(conversation, prompt); break;
            default: Plain(conversation, prompt); break;
        }
        if (answer is not null) AppendAnswer(answer, answerIds);
        return new ChatTokens(prompt, answerIds);
    }

    // <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {answer} </s><s>[INST] {user} [/INST]
    // as Meta's chat_completion encodes it, one BOS per exchange.
    private void Llama2(IReadOnlyList<ChatMessage> conversation, List<int> ids)
    {
        int start = 0;
        string system = "";
        if (conversation[0].Role == ChatRole.System)
        {
            system = $"<<SYS>>\n{conversation[0].Content.Trim()}\n<</SYS>>\n\n";
            start = 1;
        }
        for (int i = start; i < conversation.Count; i++)
        {
            ChatMessage m = conversation[i];
            if (m.Role == ChatRole.User)
            {
                ids.Add(_tokenizer.BosId!.Value);
                ids.AddRange(_tokenizer.Encode($"[INST] {system}{m.Content.Trim()} [/INST]"));
                system = "";
            }
            else
            {
                AppendAnswer(m.Content, ids);
            }
        }
    }

    // <|begin_of_text|> then per turn: <|start_header_id|>role<|end_header_id|>\n\n{content}<|eot_id|>
    private void Llama3(IReadOnlyList<ChatMessage> conversation, List<int> ids)
    {
        ids.Add(Id("<|begin_of_text|>"));
        foreach (ChatMessage m in conversation)
        {
            Llama3Header(m.Role, ids);
            ids.AddRange(_tokenizer.Encode(m.Content.Trim()));
            ids.AddRange(_endOfTurn);
        }
        Llama3Header(ChatRole.Assistant, ids);
    }

    private void Llama3Header(ChatRole role, List<int> ids)
    {
        ids.Add(Id("<|start_header_id|>"));
        ids.AddRange(_tokenizer.Encode(RoleName(role)));
        ids.Add(Id("<|end_header_id|>"));
        ids.AddRange(_tokenizer.Encode("\n\n"));
    }

    // <|im_start|>role\n{content}<|im_end|>\n ... <|im_start|>assistant\n
    private void ChatMl(IReadOnlyList<ChatMessage> conversation, List<int> ids)
    {
        foreach (ChatMessage m in conversation)
        {
            ids.Add(Id("<|im_start|>"));
            ids.AddRange(_tokenizer.Encode(RoleName(m.Role) + "\n"));
            ids.AddRange(_tokenizer.Encode(m.Content));
            ids.AddRange(_endOfTurn);
            ids.AddRange(_tokenizer.Encode("\n"));
        }
        ids.Add(Id("<|im_start|>"));
        ids.AddRange(_tokenizer.Encode(RoleName(ChatRole.Assistant) + "\n"));
    }

    // [BOS] then the turns' texts separated by blank lines; an earlier answer ends with EOS.
    private void Plain(IReadOnlyList<ChatMessage> conversation, List<int> ids)
    {
        if (_tokenizer.BosId is int bos) ids.Add(bos);
        for (int i = 0; i < conversation.Count; i++)
        {
            ChatMessage m = conversation[i];
            if (m.Role == ChatRole.Assistant)
            {
                AppendAnswer(m.Content, ids);
                continue;
            }
            bool follows = i > 0 && conversation[i - 1].Role != ChatRole.Assistant;
            ids.AddRange(_tokenizer.Encode(follows ? "\n\n" + m.Content : m.Content));
        }
    }

    // The answer is its own segment. After [/INST] or a plain prompt a space separates it, which
    // SentencePiece's dummy prefix supplies by itself; llama3 and chatml end their prompt with "\n".
    private void AppendAnswer(string answer, List<int> ids)
    {
        string text = Name switch
        {
            "llama2" or "plain" => _tokenizer.PrependsSpace ? answer.Trim() : " " + answer.Trim(),
            "llama3" => answer.Trim(),
            _ => answer,
        };
        ids.AddRange(_tokenizer.Encode(text));
        ids.AddRange(_endOfTurn);
    }

    private static string RoleName(ChatRole role) => role switch
    {
        ChatRole.System => "system",
        ChatRole.User => "user",
        _ => "assistant",
    };

    private int Id(string token) => Special(_tokenizer, Name, token);

    private ChatTemplate Requiring(params string[] tokens)
    {
        foreach (string token in tokens) Special(_tokenizer, Name, token);
        return this;
    }

    private ChatTemplate RequiringBos()
    {
        _ = _tokenizer.BosId ?? throw new ArgumentException($"chat template '{Name}' needs a BOS token, which the tokenizer does not have");
        return this;
    }

    private static int Special(ITextTokenizer tokenizer, string template, string token) =>
        tokenizer.TryGetSpecialTokenId(token, out int id)
            ? id
            : throw new ArgumentException($"chat template '{template}' needs the special token {token}, which the tokenizer does not have");

    private static int Eos(ITextTokenizer tokenizer, string template) =>
        tokenizer.EosId ?? throw new ArgumentException($"chat template '{template}' needs an EOS token, which the tokenizer does not have");
}
