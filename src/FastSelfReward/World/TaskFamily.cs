namespace FastSelfReward.World;

/// <summary>
/// The kinds of instruction the world poses, listed from easiest to hardest
/// (see <see cref="WorldTask.Difficulty"/>).
/// </summary>
public enum TaskFamily
{
    /// <summary>Name the first letter of a word.</summary>
    FirstLetter,

    /// <summary>Name the last letter of a word.</summary>
    LastLetter,

    /// <summary>Write a word in capital letters.</summary>
    UpperCase,

    /// <summary>Write a word n times, separated by spaces.</summary>
    RepeatWord,

    /// <summary>Count the letters of a word.</summary>
    CountLetters,

    /// <summary>Add two numbers.</summary>
    Add,

    /// <summary>Subtract one number from another (never below zero).</summary>
    Subtract,

    /// <summary>Pick the largest number of a list.</summary>
    Largest,

    /// <summary>Count the vowels (a, e, i, o, u) of a word.</summary>
    CountVowels,

    /// <summary>Spell a word backwards.</summary>
    ReverseWord,

    /// <summary>Sort a list of numbers in increasing order.</summary>
    SortNumbers,
}
