namespace FastSelfReward.Text;

/// <summary>Who speaks in a chat turn.</summary>
public enum ChatRole
{
    System,
    User,
    Assistant,
}

/// <summary>One turn of a conversation.</summary>
public sealed record ChatMessage(ChatRole Role, string Content);
