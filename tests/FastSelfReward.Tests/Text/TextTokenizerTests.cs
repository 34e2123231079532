using System.Text;
using FastSelfReward.Tests.Checkpoints;
using FastSelfReward.Text;
using Xunit.Abstractions;

namespace FastSelfReward.Tests.Text;

public class TextTokenizerTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TokenizerJsonByteLevelBpeKeepsWhitespace(bool arrayMerges)
    {
        using var dir = new ScratchFolder();
        TokenizerFixture.WriteTokenizerJson(dir, TokenizerFixture.Llama3Specials, "<|begin_of_text|>", "<|end_of_text|>", arrayMerges);
        TextTokenizer tok = TextTokenizer.Load(dir.Path);
        Assert.Equal("bpe", tok.Format);
        Assert.Equal([TokenizerFixture.Hello, TokenizerFixture.SpaceWorld], tok.Encode("hello world"));
        Assert.Equal([TokenizerFixture.TwoNewlines], tok.Encode("\n\n"));
        Assert.Empty(tok.Encode(""));
        Assert.Equal("hello world\n\nhi there!", tok.Decode(tok.Encode("hello world\n\nhi there!")));
        Assert.Equal(110, tok.BosId);
        Assert.Equal(111, tok.EosId);
        Assert.Equal(115, tok.VocabSize);
        Assert.True(tok.TryGetSpecialTokenId("<|eot_id|>", out int eot) && eot == 114);
        Assert.False(tok.PrependsSpace);
    }

    [Fact]
    public void SpecialTokenTextIsOrdinaryTextWhenEncoding()
    {
        using var dir = new ScratchFolder();
        TokenizerFixture.WriteTokenizerJson(dir, TokenizerFixture.Llama3Specials, "<|begin_of_text|>", "<|end_of_text|>");
        TextTokenizer tok = TextTokenizer.Load(dir.Path);
        IReadOnlyList<int> ids = tok.Encode("<|eot_id|>");
        Assert.DoesNotContain(114, ids);
        Assert.Equal("<|eot_id|>", tok.Decode(ids));
    }

    [Fact]
    public void DecodeDropsOrKeepsSpecialTokens()
    {
        using var dir = new ScratchFolder();
        TokenizerFixture.WriteTokenizerJson(dir, TokenizerFixture.Llama3Specials, "<|begin_of_text|>", "<|end_of_text|>");
        TextTokenizer tok = TextTokenizer.Load(dir.Path);
        int[] ids = [110, TokenizerFixture.Hello, 114, TokenizerFixture.SpaceWorld];
        Assert.Equal("hello world", tok.Decode(ids));
        Assert.Equal("<|begin_of_text|>hello<|eot_id|> world", tok.Decode(ids, skipSpecialTokens: false));
        Assert.Throws<ArgumentOutOfRangeException>(() => tok.Decode([9999]));
    }

    [Fact]
    public void VocabJsonAndMergesTxt()
    {
        using var dir = new ScratchFolder();
        TokenizerFixture.WriteVocabAndMerges(dir);
        File.WriteAllText(dir.File("special_tokens_map.json"), """{"bos_token":"h","eos_token":{"content":"!"}}""");
        TextTokenizer tok = TextTokenizer.Load(dir.Path);
        Assert.Equal([TokenizerFixture.Hello, TokenizerFixture.SpaceWorld], tok.Encode("hello world"));
        Assert.Equal("hello world", tok.Decode(tok.Encode("hello world")));
        Assert.Equal('h' - '!', tok.BosId);
        Assert.Equal(0, tok.EosId);
    }

    [Fact]
    public void AnEmptyMergesTxtIsRefusedNamingTheFile()
    {
        using var dir = new ScratchFolder();
        TokenizerFixture.WriteVocabAndMerges(dir);
        File.WriteAllLines(dir.File("merges.txt"), ["#version: 0.2", ""]);
        var error = Assert.Throws<InvalidDataException>(() => TextTokenizer.Load(dir.Path));
        Assert.Equal($"{dir.File("merges.txt")}: no merges (an empty merges.txt would cut every word into bytes)", error.Message);
    }

    private static void WriteTiktoken(string path)
    {
        var lines = new List<string>();
        for (int b = 0; b < 256; b++) lines.Add($"{Convert.ToBase64String([(byte)b])} {b}");
        string[] merged = ["he", "ll", "hell", "hello"];
        for (int i = 0; i < merged.Length; i++) lines.Add($"{Convert.ToBase64String(Encoding.UTF8.GetBytes(merged[i]))} {256 + i}");
        File.WriteAllLines(path, lines);
    }

    [Theory]
    [InlineData("fixture.tiktoken")]
    [InlineData("tokenizer.model")]
    public void TiktokenFiles(string fileName)
    {
        using var dir = new ScratchFolder();
        WriteTiktoken(dir.File(fileName));
        File.WriteAllText(dir.File("tokenizer_config.json"), """
            {"added_tokens_decoder":{"260":{"content":"<|begin_of_text|>","special":true},"261":{"content":"<|end_of_text|>","special":true}},
             "bos_token":"<|begin_of_text|>","eos_token":"<|end_of_text|>"}
            """);
        TextTokenizer tok = TextTokenizer.Load(dir.Path);
        Assert.Equal("tiktoken", tok.Format);
        Assert.Equal([259], tok.Encode("hello"));
        Assert.Equal([104, 105], tok.Encode("hi"));
        Assert.Equal("hello, wörld!\n", tok.Decode(tok.Encode("hello, wörld!\n")));
        Assert.Equal(260, tok.BosId);
        Assert.Equal(261, tok.EosId);
        Assert.Equal(262, tok.VocabSize);
    }

    [Fact]
    public void MissingOrUnsupportedFilesAreClearErrors()
    {
        using var dir = new ScratchFolder();
        Assert.Contains("no tokenizer found", Assert.Throws<FileNotFoundException>(() => TextTokenizer.Load(dir.Path)).Message);

        File.WriteAllText(dir.File("tokenizer.json"), """{"model":{"type":"Unigram","vocab":[]}}""");
        Assert.Contains("model type 'Unigram' is not supported", Assert.Throws<InvalidDataException>(() => TextTokenizer.Load(dir.Path)).Message);

        File.WriteAllText(dir.File("tokenizer.json"), """{"model":{"type":"BPE","vocab":{},"merges":[]},"pre_tokenizer":{"type":"Metaspace"}}""");
        Assert.Contains("only byte-level BPE", Assert.Throws<InvalidDataException>(() => TextTokenizer.Load(dir.Path)).Message);

        File.WriteAllText(dir.File("tokenizer.json"), "{\"model\":");
        Assert.Contains("tokenizer.json: not valid JSON", Assert.Throws<InvalidDataException>(() => TextTokenizer.Load(dir.Path)).Message);

        File.WriteAllText(dir.File("tokenizer.json"), """{"added_tokens":[{"content":"<x>"}],"model":{}}""");
        Assert.Contains("added token '<x>' has no valid 'id'", Assert.Throws<InvalidDataException>(() => TextTokenizer.Load(dir.Path)).Message);

        File.WriteAllBytes(dir.File("tokenizer.model"), [0x0A, 0xFF, 0xFF, 0xFF, 0x01]);
        File.Delete(dir.File("tokenizer.json"));
        Assert.Contains("tokenizer.model: not a SentencePiece BPE model", Assert.Throws<InvalidDataException>(() => TextTokenizer.Load(dir.Path)).Message);
    }

    /// <summary>
    /// The real Llama 2 tokenizer lives in the project's shared data folder beside the repository
    /// (../shared/data/llama2-tokenizer from the repository root), which a clean clone may lack.
    /// xunit 2 has no runtime skip, so without the file this test returns early and says so in its output.
    /// </summary>
    [Fact]
    public void RealLlama2TokenizerEncodesHelloWorld()
    {
        string? folder = Llama2Folder();
        if (folder is null)
        {
            output.WriteLine("Llama 2 tokenizer not found at ../shared/data/llama2-tokenizer/tokenizer.model from the repository root; nothing checked.");
            return;
        }
        TextTokenizer tok = TextTokenizer.Load(folder);
        Assert.Equal("sentencepiece", tok.Format);
        Assert.Equal(1, tok.BosId);
        Assert.Equal(2, tok.EosId);
        Assert.Equal(32000, tok.VocabSize);
        Assert.True(tok.PrependsSpace);
        Assert.Equal([1, 15043, 3186], [tok.BosId!.Value, .. tok.Encode("Hello world")]);
        Assert.Equal("Hello world", tok.Decode([1, 15043, 3186, 2]));

        ChatTemplate template = ChatTemplate.Detect(tok);
        Assert.Equal("llama2", template.Name);
        ChatTokens chat = template.Render("Hello", "Hello world");
        // Meta's chat_completion: encode("[INST] Hello [/INST] Hello world", bos) then </s>.
        Assert.Equal([1, 518, 25580, 29962, 15043, 518, 29914, 25580, 29962], chat.PromptIds);
        Assert.Equal([15043, 3186, 2], chat.AnswerIds);
        Assert.Equal([2], template.StopIds);
    }

    internal static string? Llama2Folder()
    {
        for (DirectoryInfo? d = new(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (!File.Exists(Path.Combine(d.FullName, "FastSelfReward.sln"))) continue;
            string folder = Path.Combine(d.FullName, "..", "shared", "data", "llama2-tokenizer");
            return File.Exists(Path.Combine(folder, "tokenizer.model")) ? folder : null;
        }
        return null;
    }
}
