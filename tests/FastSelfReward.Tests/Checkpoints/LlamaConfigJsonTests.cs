using System.Text;
using FastSelfReward.Checkpoints;
using FastSelfReward.Model;

namespace FastSelfReward.Tests.Checkpoints;

public class LlamaConfigJsonTests
{
    private static LlamaConfig Parse(string json) => LlamaConfigJson.Parse(Encoding.UTF8.GetBytes(json), "config.json");

    private static string Fails(string json) => Assert.Throws<InvalidDataException>(() => Parse(json)).Message;

    [Fact]
    public void ReadsATransformers4Llama2Config()
    {
        LlamaConfig c = Parse("""
            {"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_act":"silu",
             "hidden_size":4096,"intermediate_size":11008,"num_hidden_layers":32,"num_attention_heads":32,
             "num_key_value_heads":32,"rms_norm_eps":1e-05,"rope_theta":10000.0,"rope_scaling":null,
             "vocab_size":32000,"max_position_embeddings":4096,"tie_word_embeddings":false,
             "bos_token_id":1,"eos_token_id":2,"torch_dtype":"float16","pretraining_tp":1}
            """);
        Assert.Equal(4096, c.HiddenSize);
        Assert.Equal(1e-5, c.RmsNormEps);
        Assert.Equal(4096, c.MaxPositionEmbeddings);
        Assert.Equal(128, c.HeadDim);
        Assert.Equal([2], c.EosTokenIds);
    }

    [Fact]
    public void ReadsRopeParametersHeadDimAndEosList()
    {
        // Llama 3.2 style under transformers 5: theta lives in rope_parameters, eos is a list.
        LlamaConfig c = Parse("""
            {"hidden_size":2048,"intermediate_size":8192,"num_hidden_layers":16,"num_attention_heads":32,
             "num_key_value_heads":8,"head_dim":64,"rms_norm_eps":1e-05,
             "rope_parameters":{"rope_type":"llama3","rope_theta":500000.0,"factor":32.0,"low_freq_factor":1.0,
                                "high_freq_factor":4.0,"original_max_position_embeddings":8192},
             "vocab_size":128256,"max_position_embeddings":131072,"tie_word_embeddings":true,
             "bos_token_id":128000,"eos_token_id":[128001,128008,128009]}
            """);
        Assert.Equal(500000.0, c.RopeTheta);
        Assert.Equal(64, c.HeadDim);
        Assert.Equal(8, c.KvHeads);
        Assert.True(c.TieWordEmbeddings);
        Assert.Equal(128000, c.BosTokenId);
        Assert.Equal([128001, 128008, 128009], c.EosTokenIds);
        Assert.Equal(new Llama3RopeScaling(32, 1, 4, 8192), c.RopeScaling);
    }

    [Fact]
    public void ALlama31ConfigOfTransformers4HasItsRopeScalingAndItSurvivesASave()
    {
        LlamaConfig c = Parse("""
            {"hidden_size":4096,"intermediate_size":14336,"num_hidden_layers":32,"num_attention_heads":32,"num_key_value_heads":8,
             "rope_theta":500000.0,"rope_scaling":{"factor":8.0,"high_freq_factor":4.0,"low_freq_factor":1.0,
             "original_max_position_embeddings":8192,"rope_type":"llama3"},"hidden_act":"silu",
             "vocab_size":128256,"max_position_embeddings":131072,"bos_token_id":128000,"eos_token_id":128001}
            """);
        Assert.Equal(new Llama3RopeScaling(8, 1, 4, 8192), c.RopeScaling);
        string written = LlamaConfigJson.ToJson(c);
        Assert.Contains("\"rope_type\": \"llama3\"", written);
        Assert.Equal(c, Parse(written) with { HeadDimOverride = 0, EosTokenIds = c.EosTokenIds });
        // transformers 4 reads rope_scaling, 5 rope_parameters: both carry it.
        var node = System.Text.Json.Nodes.JsonNode.Parse(written)!;
        Assert.Equal(8.0, (double)node["rope_scaling"]!["factor"]!);
        Assert.Equal(8192, (int)node["rope_parameters"]!["original_max_position_embeddings"]!);
    }

    [Theory]
    [InlineData("""{"rope_scaling":{"rope_type":"yarn","factor":4.0}}""", "config.json: rope_scaling.rope_type 'yarn' is not supported (supported: default, llama3)")]
    [InlineData("""{"rope_scaling":{"type":"linear","factor":2.0}}""", "config.json: rope_scaling.rope_type 'linear' is not supported")]
    [InlineData("""{"rope_parameters":{"rope_type":"dynamic","rope_theta":10000,"factor":2.0}}""", "config.json: rope_parameters.rope_type 'dynamic' is not supported")]
    [InlineData("""{"rope_scaling":{"factor":2.0}}""", "config.json: rope_scaling.rope_type is missing")]
    [InlineData("""{"rope_scaling":{"rope_type":"llama3","factor":8.0}}""", "config.json: rope_scaling.low_freq_factor is missing")]
    [InlineData("""{"rope_scaling":{"rope_type":"llama3","factor":0.5,"low_freq_factor":1,"high_freq_factor":4,"original_max_position_embeddings":8192}}""", "rope_scaling: factor must be at least 1, got 0.5")]
    [InlineData("""{"hidden_act":"gelu"}""", "config.json: hidden_act \"gelu\" is not supported")]
    [InlineData("""{"vocab_size":100,"bos_token_id":128000}""", "config.json: invalid Llama config: bos_token_id 128000 lies outside the vocabulary (vocab_size 100)")]
    [InlineData("""{"vocab_size":100,"bos_token_id":1,"eos_token_id":[2,100]}""", "eos_token_id 100 lies outside the vocabulary (vocab_size 100)")]
    public void WhatTheModelCannotRunAsWrittenIsRefusedNamingFileAndKey(string extra, string expected)
    {
        string json = """{"hidden_size":64,"intermediate_size":128,"num_hidden_layers":1,"num_attention_heads":4,""" + extra[1..];
        Assert.Contains(expected, Fails(json));
    }

    [Fact]
    public void RopeParametersWithoutThetaFallsBackToTopLevel() =>
        Assert.Equal(1e6, Parse("""{"hidden_size":64,"num_attention_heads":4,"rope_theta":1e6,"rope_parameters":{"rope_type":"default"}}""").RopeTheta);

    [Fact]
    public void MissingOptionalKeysTakeTransformersDefaults()
    {
        LlamaConfig c = Parse("""{"hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":null,"unknown_field":{"x":[1]}}""");
        Assert.Equal(4, c.KvHeads);
        Assert.Equal(16, c.HeadDim);
        Assert.Equal(10000.0, c.RopeTheta);
        Assert.Equal(32000, c.VocabSize);
        Assert.Equal(1e-6, c.RmsNormEps);
        Assert.False(c.TieWordEmbeddings);
        Assert.Equal(1, c.BosTokenId);
        Assert.Equal([2], c.EosTokenIds);
    }

    [Fact]
    public void WrongTypesNameTheField()
    {
        Assert.Equal("config.json: field 'hidden_size' must be an integer, got \"4096\"", Fails("""{"hidden_size":"4096"}"""));
        Assert.Contains("field 'num_hidden_layers' must be an integer, got 2.5", Fails("""{"num_hidden_layers":2.5}"""));
        Assert.Contains("field 'rms_norm_eps' must be a number, got \"1e-5\"", Fails("""{"rms_norm_eps":"1e-5"}"""));
        Assert.Contains("field 'tie_word_embeddings' must be true or false, got 1", Fails("""{"tie_word_embeddings":1}"""));
        Assert.Contains("field 'eos_token_id[1]' must be an integer, got \"x\"", Fails("""{"eos_token_id":[2,"x"]}"""));
        Assert.Contains("field 'rope_parameters.rope_theta' must be a number", Fails("""{"rope_parameters":{"rope_theta":[1]}}"""));
        Assert.Contains("field 'rope_parameters' must be an object", Fails("""{"rope_parameters":5}"""));
        Assert.Contains("not valid JSON", Fails("""{"hidden_size":"""));
        Assert.Contains("config must be a JSON object", Fails("[]"));
    }

    [Fact]
    public void InconsistentShapesAreErrorsNamingTheFile() =>
        Assert.Contains("config.json: invalid Llama config: num_attention_heads (6) must be a multiple of num_key_value_heads (4)",
            Fails("""{"hidden_size":48,"num_attention_heads":6,"num_key_value_heads":4}"""));

    [Fact]
    public void WriteThenReadIsTheSameConfig()
    {
        var config = new LlamaConfig
        {
            VocabSize = 300, HiddenSize = 64, IntermediateSize = 176, NumHiddenLayers = 2, NumAttentionHeads = 4,
            NumKeyValueHeads = 2, HeadDimOverride = 32, RmsNormEps = 1e-5, RopeTheta = 500000, MaxPositionEmbeddings = 512,
            TieWordEmbeddings = true, BosTokenId = 5, EosTokenIds = [6, 7],
        };
        using var dir = new ScratchFolder();
        string path = dir.File("config.json");
        LlamaConfigJson.Write(config, path);
        LlamaConfig back = LlamaConfigJson.Read(path);
        Assert.Equal(config with { EosTokenIds = back.EosTokenIds }, back);
        Assert.Equal([6, 7], back.EosTokenIds);
        string text = File.ReadAllText(path);
        Assert.Contains("\"rope_parameters\"", text);
        Assert.Contains("\"model_type\": \"llama\"", text);
    }
}
