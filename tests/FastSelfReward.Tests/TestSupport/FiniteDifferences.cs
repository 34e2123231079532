namespace FastSelfReward.Tests.TestSupport;

/// <summary>
/// The oracle for every backward kernel: central finite differences of a scalar loss, evaluated by
/// the F64 build of the forward kernel. Backward ops are checked through
/// loss = Σ output ⊙ cotangent with a random cotangent, whose gradient is exactly what a backward
/// op returns when given the cotangent as its output gradient.
/// </summary>
internal static class FiniteDifferences
{
    /// <summary>Step h. Truncation error is O(h²) ≈ 1e-12, rounding error ≈ 1e-16 · |loss| / h ≈ 1e-10 · |loss|.</summary>
    public const double Step = 1e-6;

    /// <summary>Normwise relative error allowed between the analytic and the numeric gradient.</summary>
    public const double Tolerance = 1e-6;

    /// <summary>gᵢ = (f(x + h eᵢ) − f(x − h eᵢ)) / 2h for every i; <paramref name="x"/> is left unchanged.</summary>
    public static double[] Gradient(double[] x, Func<double[], double> f, double h = Step)
    {
        var gradient = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            double saved = x[i];
            x[i] = saved + h;
            double plus = f(x);
            x[i] = saved - h;
            double minus = f(x);
            x[i] = saved;
            gradient[i] = (plus - minus) / (2 * h);
        }
        return gradient;
    }

    /// <summary>
    /// Asserts max|analytic − numeric| ≤ tolerance · max|numeric|. The numeric gradient must not
    /// vanish, or a kernel writing zeros would pass.
    /// </summary>
    public static void AssertMatches(double[] numeric, double[] analytic, string name, double tolerance = Tolerance)
    {
        Assert.Equal(numeric.Length, analytic.Length);
        double scale = numeric.Max(Math.Abs);
        Assert.True(scale > 1e-3, $"{name}: the numeric gradient vanishes (max {scale:E3}); the check would prove nothing");
        int worst = 0;
        for (int i = 1; i < numeric.Length; i++)
            if (!(Math.Abs(analytic[i] - numeric[i]) <= Math.Abs(analytic[worst] - numeric[worst]))) worst = i;
        double error = Math.Abs(analytic[worst] - numeric[worst]) / scale;
        Assert.True(error <= tolerance,
            $"{name}: relative error {error:E3} > {tolerance:E1} at [{worst}]: analytic {analytic[worst]:R}, numeric {numeric[worst]:R}");
    }

    /// <summary>Checks <paramref name="analytic"/> against the central-difference gradient of f at x.</summary>
    public static void Check(double[] x, Func<double[], double> f, double[] analytic, string name) =>
        AssertMatches(Gradient(x, f), analytic, name);

    /// <summary>Σ aᵢ bᵢ.</summary>
    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        Assert.Equal(a.Length, b.Length);
        double sum = 0;
        for (int i = 0; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }
}
