using FastSelfReward.Checkpoints;
using FastSelfReward.Compute;
using FastSelfReward.Generation;
using FastSelfReward.Model;
using FastSelfReward.Text;

namespace FastSelfReward.Evaluation;

/// <summary>One generated answer: its text (stop token left out, trimmed) and why it ended.</summary>
public readonly record struct ChatAnswer(string Text, FinishReason Finish);

/// <summary>
/// A checkpoint folder that answers user turns through its chat template, as the evaluations use it:
/// every prompt becomes one batched request keyed by its position, so an answer depends only on the
/// prompt, the weights, the seed and that position.
/// </summary>
public sealed class ChatModel : IDisposable
{
    private readonly LlamaModel _model;
    private readonly int _maxRows;

    private ChatModel(LlamaModel model, ITextTokenizer tokenizer, ChatTemplate template, int maxRows)
    {
        _model = model;
        _maxRows = maxRows;
        Tokenizer = tokenizer;
        Template = template;
    }

    public ITextTokenizer Tokenizer { get; }
    public ChatTemplate Template { get; }

    /// <summary>Loads a Hugging Face folder with its tokenizer files.</summary>
    /// <param name="kernels">The backend the weights are loaded into.</param>
    /// <param name="folder">The checkpoint folder.</param>
    /// <param name="template">Chat template name; null detects it from the tokenizer.</param>
    /// <param name="maxRows">Most sequences decoded at once.</param>
    public static ChatModel Load(IKernels kernels, string folder, string? template = null, int maxRows = 64)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"{folder}: no such checkpoint folder");
        var tokenizer = TextTokenizer.Load(folder);
        var chat = ChatTemplate.Create(tokenizer, template);
        return new ChatModel(ModelCheckpoint.Load(kernels, folder), tokenizer, chat, maxRows);
    }

    /// <summary>
    /// <paramref name="samples"/> answers to each user turn. A prompt that leaves no room to answer in
    /// the context window gets no answers (an empty list), which callers count as a failure.
    /// </summary>
    public IReadOnlyList<IReadOnlyList<ChatAnswer>> Answer(IReadOnlyList<string> prompts, SamplingOptions sampling, int samples = 1)
    {
        var requests = new List<GenerationRequest>();
        for (int i = 0; i < prompts.Count; i++)
        {
            var ids = Template.Render(prompts[i]).PromptIds;
            if (ids.Count < _model.Config.MaxPositionEmbeddings) requests.Add(new GenerationRequest(i, ids, samples));
        }
        using var generator = new Generator(_model, Completions.StopIds(_model.Config, Tokenizer, Template), _maxRows);
        var answers = new List<ChatAnswer>[prompts.Count];
        for (int i = 0; i < answers.Length; i++) answers[i] = [];
        foreach (var sequence in generator.Generate(requests, sampling))
            answers[sequence.RecordId].Add(new ChatAnswer(Completions.Text(sequence, Tokenizer).Trim(), sequence.FinishReason));
        return answers;
    }

    public void Dispose() => _model.Dispose();
}
