using FastSelfReward.Compute;
using FastSelfReward.Compute.Cuda;
using static FastSelfReward.Tests.Compute.Cuda.EmulatorTestSupport;

namespace FastSelfReward.Tests.Compute.Cuda;

/// <summary>
/// The emulator's twins of the tensor-core instructions (native/cuda_emu/warp_matrix.h), through the
/// probe kernels of kernels/warp_matrix_probe.cu, against the fragment layouts of NVIDIA's PTX ISA as
/// this test writes them down (<see cref="Ptx"/>): operands are dealt to lanes and results read back by
/// those tables, so a twin that holds an element in another lane or register than the hardware fails.
/// </summary>
public sealed unsafe class WarpMatrixTests
{
    private const string File = "warp_matrix_probe.cu";

    /// <summary>
    /// PTX ISA 9.7.14.5.8 (mma.m16n8k16, .bf16 A and B, .f32 C and D) and ldmatrix's fragment: with
    /// g = lane / 4 and t = lane % 4, where element i of a lane's fragment sits in its matrix.
    /// </summary>
    private static class Ptx
    {
        public static (int Row, int Col) A(int lane, int i) =>
            (lane / 4 + (i is 2 or 3 or 6 or 7 ? 8 : 0), lane % 4 * 2 + i % 2 + (i >= 4 ? 8 : 0));

        public static (int Row, int Col) B(int lane, int i) => (lane % 4 * 2 + i % 2 + (i >= 2 ? 8 : 0), lane / 4);

        public static (int Row, int Col) CD(int lane, int i) => (lane / 4 + (i >= 2 ? 8 : 0), lane % 4 * 2 + i % 2);

        /// <summary>Element i (0: low half, 1: high half) of an ldmatrix register: row g, column 2t + i of its 8x8 matrix.</summary>
        public static (int Row, int Col) Loaded(int lane, int i) => (lane / 4, lane % 4 * 2 + i);
    }

    private static ushort Bf16Bits(float value) => (ushort)(BitConverter.SingleToUInt32Bits(BFloat16.Round(value)) >> 16);

    private static float Bf16Value(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary>bf16 values of a few bits of mantissa, so that every product and sum of them is exact in fp32.</summary>
    private static float[,] Matrix(int rows, int cols, int seed)
    {
        var random = new Random(seed);
        var m = new float[rows, cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) m[r, c] = (random.Next(-64, 65)) / 16f;
        return m;
    }

    /// <summary>Registers of every lane (<paramref name="perLane"/> of them) holding <paramref name="m"/>'s elements where <paramref name="at"/> puts them, two bf16 to a register.</summary>
    private static uint[] Deal(float[,] m, int perLane, Func<int, int, (int Row, int Col)> at)
    {
        var registers = new uint[32 * perLane];
        for (int lane = 0; lane < 32; lane++)
            for (int i = 0; i < 2 * perLane; i++)
            {
                var (row, col) = at(lane, i);
                registers[lane * perLane + i / 2] |= (uint)Bf16Bits(m[row, col]) << (16 * (i % 2));
            }
        return registers;
    }

    private static float[] MmaOnEmulator(uint[] a, uint[] b, float[] c, bool reverse = false, int missingLane = -1)
    {
        using var device = new EmulatedCudaDevice(new EmulatorOptions { ReverseOrder = reverse });
        nint pa = Upload(device, a), pb = Upload(device, b), pc = Upload(device, c), pd = device.Allocate(32 * 4 * sizeof(float));
        void** args = stackalloc void*[] { &pa, &pb, &pc, &pd, &missingLane };
        device.Launch(device.Function(File, "warp_matrix_probe_mma"), new Dim3(1), new Dim3(32), 0, args);
        device.Synchronize();
        return Download<float>(device, pd, 32 * 4);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Mma_gives_every_lane_its_fragment_of_AB_plus_C_by_the_ptx_tables(bool reverse)
    {
        float[,] a = Matrix(16, 16, 1), b = Matrix(16, 8, 2), c = Matrix(16, 8, 3);
        var cRegisters = new float[32 * 4];
        for (int lane = 0; lane < 32; lane++)
            for (int i = 0; i < 4; i++)
            {
                var (row, col) = Ptx.CD(lane, i);
                cRegisters[lane * 4 + i] = c[row, col];
            }
        float[] d = MmaOnEmulator(Deal(a, 4, Ptx.A), Deal(b, 2, Ptx.B), cRegisters, reverse);

        for (int lane = 0; lane < 32; lane++)
            for (int i = 0; i < 4; i++)
            {
                var (row, col) = Ptx.CD(lane, i);
                double expected = c[row, col];
                for (int k = 0; k < 16; k++) expected += (double)a[row, k] * b[k, col];
                // Exact: the operands carry few mantissa bits, so no sum rounds.
                Assert.True(expected == d[lane * 4 + i], $"lane {lane} d{i} (row {row}, col {col}): {d[lane * 4 + i]}, expected {expected}");
            }
    }

    [Fact]
    public void Each_element_of_A_and_B_counts_at_the_place_the_ptx_tables_give_it()
    {
        // One element of one lane's fragment set at a time, against a partner whose rows (for A) or
        // columns (for B) are all distinct: the product shows where the twin put it.
        float[,] rowIds = new float[16, 8], colIds = new float[16, 16];
        for (int k = 0; k < 16; k++)
            for (int n = 0; n < 8; n++) rowIds[k, n] = k + 1;   // B[k, n] = k + 1: (A B)[m, n] = Σ_k A[m, k] (k + 1)
        for (int m = 0; m < 16; m++)
            for (int k = 0; k < 16; k++) colIds[m, k] = m == 0 ? k + 1 : 0;    // A[0, k] = k + 1, other rows 0
        var zero = new float[32 * 4];
        foreach (var (lane, i) in new[] { (0, 0), (5, 3), (17, 4), (30, 7), (31, 1), (9, 6) })
        {
            var aOneHot = new uint[32 * 4];
            aOneHot[lane * 4 + i / 2] = (uint)Bf16Bits(1f) << (16 * (i % 2));
            float[] d = MmaOnEmulator(aOneHot, Deal(rowIds, 2, Ptx.B), zero);
            var (row, col) = Ptx.A(lane, i);
            for (int l = 0; l < 32; l++)
                for (int e = 0; e < 4; e++)
                    Assert.Equal(Ptx.CD(l, e).Row == row ? col + 1 : 0f, d[l * 4 + e]);
        }
        foreach (var (lane, i) in new[] { (0, 0), (6, 1), (13, 2), (22, 3), (31, 3) })
        {
            // A's row 0 is 1, 2, ..., 16 along k, its other rows zero; B one-hot at (lane, i).
            var bOneHot = new uint[32 * 2];
            bOneHot[lane * 2 + i / 2] = (uint)Bf16Bits(1f) << (16 * (i % 2));
            float[] d = MmaOnEmulator(Deal(colIds, 4, Ptx.A), bOneHot, zero);
            var (row, col) = Ptx.B(lane, i);
            for (int l = 0; l < 32; l++)
                for (int e = 0; e < 4; e++)
                {
                    var at = Ptx.CD(l, e);
                    Assert.Equal(at.Row == 0 && at.Col == col ? row + 1 : 0f, d[l * 4 + e]);
                }
        }
    }

    [Fact]
    public void Mma_needs_every_lane_of_the_warp()
    {
        var error = Assert.Throws<CudaException>(() => MmaOnEmulator(new uint[128], new uint[64], new float[128], missingLane: 7));
        Assert.Contains("mma.sync.m16n8k16.bf16 at warp_matrix_probe.cu:", error.Message);
        Assert.Contains("warp 0 has 31 of its 32 lanes there", error.Message);
    }

    /// <summary>A 512-element tile of distinct 16-bit values; lane l supplies the row at <c>offsets[l]</c>.</summary>
    private static uint[] LdmatrixOnEmulator(ushort[] tile, int[] offsets, int count, bool transpose, bool fromGlobal = false)
    {
        using var device = new EmulatedCudaDevice(new EmulatorOptions { ReverseOrder = true });
        nint pt = Upload(device, tile), po = Upload(device, offsets), pr = Upload(device, new uint[32 * 4]);
        int trans = transpose ? 1 : 0, global = fromGlobal ? 1 : 0;
        void** args = stackalloc void*[] { &pt, &po, &pr, &count, &trans, &global };
        device.Launch(device.Function(File, "warp_matrix_probe_ldmatrix"), new Dim3(1), new Dim3(32), 0, args);
        device.Synchronize();
        return Download<uint>(device, pr, 32 * 4);
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(1, true)]
    [InlineData(2, false)]
    [InlineData(2, true)]
    [InlineData(4, false)]
    [InlineData(4, true)]
    public void Ldmatrix_gives_every_lane_its_elements_by_the_ptx_table(int count, bool transpose)
    {
        var tile = Enumerable.Range(0, 512).Select(i => (ushort)(i * 7 + 1)).ToArray();
        // Matrix j's rows anywhere in the tile, 16 bytes apart or not: lane 8j + r supplies row r of
        // matrix j. Lanes past the matrices give misaligned rows, which ldmatrix must not read.
        var random = new Random(count * 2 + (transpose ? 1 : 0));
        int[] rowStarts = [.. Enumerable.Range(0, 64).OrderBy(_ => random.Next()).Select(r => r * 8)];
        int[] offsets = [.. Enumerable.Range(0, 32).Select(lane => lane < 8 * count ? rowStarts[lane] : 3)];
        uint[] r = LdmatrixOnEmulator(tile, offsets, count, transpose);
        for (int lane = 0; lane < 32; lane++)
            for (int j = 0; j < count; j++)
                for (int half = 0; half < 2; half++)
                {
                    var (row, col) = Ptx.Loaded(lane, half);
                    if (transpose) (row, col) = (col, row);
                    ushort expected = tile[offsets[8 * j + row] + col];
                    Assert.Equal(expected, (ushort)(r[lane * 4 + j] >> (16 * half)));
                }
    }

    [Fact]
    public void Ldmatrix_reads_only_aligned_rows_of_shared_memory()
    {
        var tile = new ushort[512];
        int[] aligned = [.. Enumerable.Range(0, 32).Select(lane => lane * 8)];
        int[] misaligned = [.. aligned.Select((o, lane) => lane == 5 ? o + 4 : o)];
        var error = Assert.Throws<CudaException>(() => LdmatrixOnEmulator(tile, misaligned, 4, transpose: false));
        Assert.Contains("ldmatrix.x4 at warp_matrix_probe.cu:", error.Message);
        Assert.Contains("lane 5's row address", error.Message);
        Assert.Contains("is not 16-byte aligned", error.Message);
        error = Assert.Throws<CudaException>(() => LdmatrixOnEmulator(tile, aligned, 2, transpose: true, fromGlobal: true));
        Assert.Contains("ldmatrix.x2.trans at warp_matrix_probe.cu:", error.Message);
        Assert.Contains("is not in the block's shared memory", error.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_tile_loaded_by_ldmatrix_and_multiplied_by_mma_is_the_matrix_product(bool reverse)
    {
        float[,] a = Matrix(16, 16, 4), b = Matrix(16, 8, 5);
        ushort[] Flat(float[,] m) => [.. Enumerable.Range(0, m.GetLength(0)).SelectMany(r => Enumerable.Range(0, m.GetLength(1)).Select(c => Bf16Bits(m[r, c])))];
        using var device = new EmulatedCudaDevice(new EmulatorOptions { ReverseOrder = reverse });
        nint pa = Upload(device, Flat(a)), pb = Upload(device, Flat(b)), pd = device.Allocate(16 * 8 * sizeof(float));
        void** args = stackalloc void*[] { &pa, &pb, &pd };
        device.Launch(device.Function(File, "warp_matrix_probe_tile"), new Dim3(1), new Dim3(32), 0, args);
        device.Synchronize();
        float[] d = Download<float>(device, pd, 16 * 8);
        for (int m = 0; m < 16; m++)
            for (int n = 0; n < 8; n++)
            {
                double expected = 0;
                for (int k = 0; k < 16; k++) expected += (double)Bf16Value(Bf16Bits(a[m, k])) * Bf16Value(Bf16Bits(b[k, n]));
                Assert.Equal(expected, d[m * 8 + n]);
            }
    }

    [NvrtcTheory]
    [InlineData("compute_80")]
    [InlineData("compute_90")]
    public void On_a_gpu_the_wrappers_are_the_tensor_core_instructions_themselves(string architecture)
    {
        var compiled = new NvrtcCompiler(cacheDirectory: null).Compile(KernelSources.Load(File), architecture);
        string ptx = System.Text.Encoding.ASCII.GetString(compiled.Image);
        Assert.Contains("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32", ptx);
        foreach (string shape in new[] { "x1", "x1.trans", "x2", "x2.trans", "x4", "x4.trans" })
            Assert.Contains($"ldmatrix.sync.aligned.m8n8.{shape}.shared.b16", ptx);
    }
}
