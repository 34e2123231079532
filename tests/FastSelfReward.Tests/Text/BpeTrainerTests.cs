using System.Text.Json;
using FastSelfReward.Tests.Checkpoints;
using FastSelfReward.Text;
using FastSelfReward.World;

namespace FastSelfReward.Tests.Text;

public class BpeTrainerTests
{
    private static readonly Lazy<List<string>> Corpus = new(() =>
    {
        using var dir = new ScratchFolder();
        WorldDataFiles files = WorldData.Write(dir.Path, new WorldDataOptions
        {
            Seed = 2, CorpusDocuments = 3000, IftExamples = 200, EftTrainPrompts = 20, EftEvalPrompts = 5, EvalPrompts = 16,
        });
        return File.ReadLines(files.Corpus).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("text").GetString()!).ToList();
    });

    [Fact]
    public void Trained_files_load_through_TextTokenizer_and_round_trip_the_corpus_exactly()
    {
        using var dir = new ScratchFolder();
        TrainedBpe bpe = BpeTrainer.Train(Corpus.Value, new BpeTrainerOptions { VocabSize = 512 });
        bpe.Save(dir.Path);
        TextTokenizer tokenizer = TextTokenizer.Load(dir.Path);

        Assert.Equal("bpe", tokenizer.Format);
        Assert.Equal(512, tokenizer.VocabSize);
        Assert.Equal(bpe.VocabSize, tokenizer.VocabSize);
        Assert.Equal(509, tokenizer.EosId);
        Assert.Null(tokenizer.BosId);
        long tokens = 0, bytes = 0;
        foreach (string text in Corpus.Value)
        {
            IReadOnlyList<int> ids = tokenizer.Encode(text);
            Assert.Equal(text, tokenizer.Decode(ids));
            Assert.All(ids, id => Assert.InRange(id, 0, 508)); // text never encodes to a special token
            tokens += ids.Count;
            bytes += System.Text.Encoding.UTF8.GetByteCount(text);
        }
        Assert.True(tokens * 2 < bytes, $"merges should at least halve the token count: {tokens} tokens for {bytes} bytes");
    }

    [Fact]
    public void Text_outside_the_corpus_round_trips_too()
    {
        using var dir = new ScratchFolder();
        BpeTrainer.Train(Corpus.Value, new BpeTrainerOptions { VocabSize = 400 }).Save(dir.Path);
        TextTokenizer tokenizer = TextTokenizer.Load(dir.Path);
        foreach (string text in new[] { "  two  spaces\n\n\ttab", "Ünïcödé ✓ 日本語 🙂", "<|im_start|>user", "it's don't 12345" })
            Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text)));
    }

    [Fact]
    public void Chatml_template_is_detected_and_renders_with_the_special_ids()
    {
        using var dir = new ScratchFolder();
        BpeTrainer.Train(Corpus.Value, new BpeTrainerOptions { VocabSize = 600 }).Save(dir.Path);
        TextTokenizer tokenizer = TextTokenizer.Load(dir.Path);
        ChatTemplate template = ChatTemplate.Detect(tokenizer);
        Assert.Equal("chatml", template.Name);
        Assert.True(tokenizer.TryGetSpecialTokenId("<|im_start|>", out int start));
        Assert.True(tokenizer.TryGetSpecialTokenId("<|im_end|>", out int end));
        ChatTokens chat = template.Render("Reverse the word cat.", "The word cat backwards is tac.");
        Assert.Equal(start, chat.PromptIds[0]);
        Assert.Equal(end, chat.AnswerIds[^1]);
        Assert.Contains(end, template.StopIds);
        Assert.Equal("The word cat backwards is tac.", tokenizer.Decode(chat.AnswerIds));
    }

    [Fact]
    public void Training_is_deterministic_and_merges_the_most_frequent_pair_first()
    {
        string[] texts = ["aaab aaab aab", "ab ab ab"];
        TrainedBpe a = BpeTrainer.Train(texts, new BpeTrainerOptions { VocabSize = 262 });
        TrainedBpe b = BpeTrainer.Train(texts, new BpeTrainerOptions { VocabSize = 262 });
        Assert.Equal(a.Merges, b.Merges);
        Assert.Equal(a.Tokens, b.Tokens);
        // Pieces: "aaab", " aaab", " aab", "ab", " ab" x2. The pair "a b" occurs in every one.
        Assert.Equal(("a", "b"), a.Merges[0]);
        Assert.Equal(a.Merges.Count + 256, a.Tokens.Count);
    }

    [Fact]
    public void Stops_when_no_pair_repeats_and_checks_its_options()
    {
        TrainedBpe bpe = BpeTrainer.Train(["abc"], new BpeTrainerOptions { VocabSize = 2048 });
        Assert.Empty(bpe.Merges);
        Assert.Equal(259, bpe.VocabSize);
        Assert.Throws<ArgumentException>(() => BpeTrainer.Train(["x"], new BpeTrainerOptions { VocabSize = 100 }));
        Assert.Throws<ArgumentException>(() => BpeTrainer.Train(["x"], new BpeTrainerOptions { EosToken = "</s>" }));
    }

    [Fact]
    public void Trains_a_few_megabytes_in_seconds()
    {
        var texts = Enumerable.Repeat(Corpus.Value, 8).SelectMany(t => t).ToList();
        long bytes = texts.Sum(t => (long)t.Length);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        TrainedBpe bpe = BpeTrainer.Train(texts, new BpeTrainerOptions { VocabSize = 2048 });
        Assert.True(bytes > 1_000_000, $"{bytes} bytes");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"{clock.Elapsed} for {bytes} bytes, {bpe.Merges.Count} merges");
    }
}
