namespace FastSelfReward.World;

/// <summary>The files <see cref="WorldData.Write"/> wrote, as full paths.</summary>
/// <param name="Corpus">corpus.jsonl: <c>{text}</c> documents for pretraining M0.</param>
/// <param name="Ift">ift.jsonl: <c>{prompt, response}</c>.</param>
/// <param name="EftTrain">eft_train.jsonl: <c>{prompt, responses: [{text, rank, judgment}]}</c>; the judgment is the oracle's justification and its <c>Score: N</c> line.</param>
/// <param name="EftEval">eft_eval.jsonl: as <paramref name="EftTrain"/>, other prompts.</param>
/// <param name="EvalPrompts">eval_prompts.jsonl: <c>{id, prompt, source}</c>, the held-out prompts, without answers.</param>
public sealed record WorldDataFiles(string Corpus, string Ift, string EftTrain, string EftEval, string EvalPrompts);
