using FastSelfReward.Compute.Cuda;
using static FastSelfReward.Tests.Compute.Cuda.EmulatorTestSupport;

namespace FastSelfReward.Tests.Compute.Cuda;

/// <summary>
/// The emulated GPU itself, through small kernels of native/cuda_emu/tests/emulator_test_kernels.cu:
/// barriers and warp operations compute what a GPU computes (in both thread orders), and the
/// mistakes a CPU would forgive are caught: a missing barrier (reverse order), divergent barriers
/// and deadlocks (errors naming the lines), reads of unwritten memory (NaN), launches beyond
/// sm_90's limits, misaligned and host pointers, and results read before synchronizing.
/// </summary>
public sealed unsafe class EmulatorTests
{
    private const string File = "emulator_test_kernels.cu";

    [Theory]
    [InlineData(32, false)]
    [InlineData(96, false)]
    [InlineData(256, true)]
    [InlineData(1024, false)]
    [InlineData(1024, true)]
    public void Block_sum_with_shuffles_and_shared_memory_matches_the_host(int threads, bool reverse)
    {
        using var device = new EmulatedCudaDevice(new EmulatorOptions { ReverseOrder = reverse });
        const int rows = 5, n = 3001;
        float[] x = Sequence(rows * n, i => (i % 13) - 6 + 0.25f);
        nint input = Upload(device, x), output = device.Allocate(rows * sizeof(float));
        int count = n;
        void** args = stackalloc void*[] { &input, &output, &count };
        device.Launch(device.Function(File, "emu_test_row_sum"), new Dim3(rows), new Dim3((uint)threads), 0, args);
        device.Synchronize();
        float[] sums = Download<float>(device, output, rows);
        for (int r = 0; r < rows; r++)
        {
            double expected = x.Skip(r * n).Take(n).Sum(v => (double)v);
            Assert.Equal(expected, sums[r], 2);
        }
        device.Free(input);
        device.Free(output);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Tree_reduction_over_dynamic_shared_memory_needs_every_barrier_and_gets_them(bool reverse)
    {
        using var device = new EmulatedCudaDevice(new EmulatorOptions { ReverseOrder = reverse });
        const int blocks = 3, threads = 128;
        float[] x = Sequence(blocks * threads, i => i * 0.5f);
        nint input = Upload(device, x), output = device.Allocate(blocks * sizeof(float));
        void** args = stackalloc void*[] { &input, &output };
        device.Launch(device.Function(File, "emu_test_tree_sum"), new Dim3(blocks), new Dim3(threads), threads * sizeof(float), args);
        device.Synchronize();
        float[] sums = Download<float>(device, output, blocks);
        for (int b = 0; b < blocks; b++) Assert.Equal(x.Skip(b * threads).Take(threads).Sum(), sums[b]);
    }

    [Fact]
    public void Warp_shuffles_and_ballot_follow_cuda_semantics()
    {
        using var device = new EmulatedCudaDevice(new EmulatorOptions { ReverseOrder = true });
        float[] x = Sequence(32, i => i + 1);
        nint input = Upload(device, x);
        nint[] outputs = Enumerable.Range(0, 6).Select(_ => device.Allocate(32 * sizeof(float))).ToArray();
        nint xorSum = outputs[0], downSum = outputs[1], broadcast = outputs[2], up = outputs[3], ballot = outputs[4], segment = outputs[5];
        void** args = stackalloc void*[] { &input, &xorSum, &downSum, &broadcast, &up, &ballot, &segment };
        device.Launch(device.Function(File, "emu_test_warp_ops"), new Dim3(1), new Dim3(32), 0, args);
        device.Synchronize();

        Assert.All(Download<float>(device, xorSum, 32), v => Assert.Equal(528f, v));
        Assert.Equal(528f, Download<float>(device, downSum, 32)[0]);
        Assert.All(Download<float>(device, broadcast, 32), v => Assert.Equal(6f, v));
        float[] shiftedUp = Download<float>(device, up, 32);
        Assert.Equal(1f, shiftedUp[0]);  // lane 0 has no lane below: keeps its own value
        for (int lane = 1; lane < 32; lane++) Assert.Equal(lane, shiftedUp[lane]);
        Assert.All(Download<uint>(device, ballot, 32), v => Assert.Equal(0x55555555u, v));  // x = lane + 1 is odd in even lanes
        float[] segments = Download<float>(device, segment, 32);
        for (int lane = 0; lane < 32; lane++)
        {
            int first = lane / 8 * 8;
            Assert.Equal(Enumerable.Range(first + 1, 8).Sum(), segments[lane]);
        }
    }

    [Fact]
    public void Shuffles_from_lanes_that_do_not_exist_read_nan_and_a_mask_must_hold_the_caller()
    {
        using var device = new EmulatedCudaDevice();
        nint input = Upload(device, Sequence(48, _ => 1f)), output = device.Allocate(48 * sizeof(float));
        void** args = stackalloc void*[] { &input, &output };
        device.Launch(device.Function(File, "emu_test_warp_sum"), new Dim3(1), new Dim3(48), 0, args);
        device.Synchronize();
        float[] sums = Download<float>(device, output, 48);
        Assert.All(sums[..32], v => Assert.Equal(32f, v));
        Assert.All(sums[32..], v => Assert.True(float.IsNaN(v)));  // the second warp has 16 of 32 lanes

        void** maskArgs = stackalloc void*[] { &output };
        var error = Assert.Throws<CudaException>(() =>
            device.Launch(device.Function(File, "emu_test_mask_without_self"), new Dim3(1), new Dim3(32), 0, maskArgs));
        Assert.Contains(TestKernelLine("EMU_TEST_MASK_WITHOUT_SELF") + ": lane 1 of warp 0 is not in its own mask", error.Message);
    }

    [Fact]
    public void Three_dimensional_blocks_and_two_dimensional_grids_see_their_indices()
    {
        using var device = new EmulatedCudaDevice();
        var grid = new Dim3(3, 2);
        var block = new Dim3(4, 3, 2);
        int total = (int)(grid.Count * block.Count);
        nint output = device.Allocate(total * sizeof(long));
        void** args = stackalloc void*[] { &output };
        device.Launch(device.Function(File, "emu_test_indices"), grid, block, 0, args);
        device.Synchronize();
        long[] packed = Download<long>(device, output, total);
        int i = 0;
        for (uint by = 0; by < grid.Y; by++)
            for (uint bx = 0; bx < grid.X; bx++)
                for (uint tz = 0; tz < block.Z; tz++)
                    for (uint ty = 0; ty < block.Y; ty++)
                        for (uint tx = 0; tx < block.X; tx++)
                            Assert.Equal((long)bx << 32 | (long)by << 24 | tx << 16 | ty << 8 | tz, packed[i++]);
    }

    [Fact]
    public void A_templates_shared_array_is_poisoned_before_every_block_like_any_other()
    {
        // GCC puts a template's static __shared__ in a COMDAT section of its own, outside fsr_shared;
        // the runtime finds it through the symbol table. One worker, so every block reuses the same
        // OS thread's copy, which the block before filled with lane numbers.
        using var device = new EmulatedCudaDevice(new EmulatorOptions { Workers = 1 });
        const int blocks = 3;
        nint output = device.Allocate(blocks * 32 * sizeof(float));
        void** args = stackalloc void*[] { &output };
        device.Launch(device.Function(File, "emu_test_template_shared_is_poisoned"), new Dim3(blocks), new Dim3(32), 0, args);
        device.Synchronize();
        Assert.All(Download<float>(device, output, blocks * 32), v => Assert.True(float.IsNaN(v), $"{v}: not poison"));
    }

    [Fact]
    public void A_missing_barrier_gives_the_wrong_result_in_reverse_order()
    {
        float[] x = Sequence(256, i => i);
        float[] Run(bool reverse)
        {
            using var device = new EmulatedCudaDevice(new EmulatorOptions { ReverseOrder = reverse });
            nint input = Upload(device, x), output = device.Allocate(256 * sizeof(float));
            void** args = stackalloc void*[] { &input, &output };
            device.Launch(device.Function(File, "emu_test_missing_barrier"), new Dim3(1), new Dim3(256), 0, args);
            device.Synchronize();
            return Download<float>(device, output, 256);
        }
        float[] expected = Sequence(256, i => Math.Max(i - 1, 0));
        Assert.Equal(expected, Run(reverse: false));  // forward order hides the bug
        Assert.Contains(Run(reverse: true), float.IsNaN);  // reverse order reads unwritten (NaN) shared memory
    }

    [Fact]
    public void Divergent_barriers_are_a_launch_error_naming_both_lines()
    {
        using var device = new EmulatedCudaDevice();
        nint output = device.Allocate(32 * sizeof(float));
        void** args = stackalloc void*[] { &output };
        var error = Assert.Throws<CudaException>(() =>
            device.Launch(device.Function(File, "emu_test_divergent_barrier"), new Dim3(1), new Dim3(32), 0, args));
        Assert.Contains("divergent __syncthreads", error.Message);
        Assert.Contains(TestKernelLine("EMU_TEST_DIVERGENT_A"), error.Message);
        Assert.Contains(TestKernelLine("EMU_TEST_DIVERGENT_B"), error.Message);
    }

    [Fact]
    public void Threads_exiting_before_a_barrier_others_wait_at_are_a_launch_error()
    {
        using var device = new EmulatedCudaDevice();
        nint output = device.Allocate(64 * sizeof(float));
        int n = 40;
        void** args = stackalloc void*[] { &output, &n };
        var error = Assert.Throws<CudaException>(() =>
            device.Launch(device.Function(File, "emu_test_exit_before_barrier"), new Dim3(1), new Dim3(64), 0, args));
        Assert.Contains("40 threads at __syncthreads (" + TestKernelLine("EMU_TEST_EXIT_BARRIER") + ")", error.Message);
        Assert.Contains("24 exited", error.Message);
    }

    [Fact]
    public void A_deadlock_between_a_shuffle_and_a_barrier_is_a_launch_error_naming_both_lines()
    {
        using var device = new EmulatedCudaDevice(new EmulatorOptions { Workers = 2 });
        nint output = device.Allocate(64 * sizeof(float));
        void** args = stackalloc void*[] { &output };
        var error = Assert.Throws<CudaException>(() =>
            device.Launch(device.Function(File, "emu_test_deadlock"), new Dim3(4), new Dim3(64), 0, args));
        Assert.Contains("deadlock", error.Message);
        Assert.Contains("__shfl_xor_sync (" + TestKernelLine("EMU_TEST_DEADLOCK_SHUFFLE") + ")", error.Message);
        Assert.Contains("__syncthreads (" + TestKernelLine("EMU_TEST_DEADLOCK_BARRIER") + ")", error.Message);
    }

    [Fact]
    public void Shared_memory_and_new_allocations_read_as_nan_until_written()
    {
        using var device = new EmulatedCudaDevice();
        nint staticOut = device.Allocate(64 * sizeof(float)), dynamicOut = device.Allocate(64 * sizeof(float));
        Assert.All(Download<float>(device, staticOut, 64), v => Assert.True(float.IsNaN(v)));
        // An earlier launch fills the dynamic shared memory first: poisoning must happen per block.
        nint zeros = Upload(device, new float[64]), total = device.Allocate(sizeof(float));
        void** writeSharedArgs = stackalloc void*[] { &zeros, &total };
        device.Launch(device.Function(File, "emu_test_tree_sum"), new Dim3(1), new Dim3(64), 64 * sizeof(float), writeSharedArgs);
        void** args = stackalloc void*[] { &staticOut, &dynamicOut };
        device.Launch(device.Function(File, "emu_test_uninitialized_shared"), new Dim3(2), new Dim3(64), 64 * sizeof(float), args);
        device.Synchronize();
        Assert.All(Download<float>(device, staticOut, 64), v => Assert.True(float.IsNaN(v)));
        Assert.All(Download<float>(device, dynamicOut, 64), v => Assert.True(float.IsNaN(v)));
    }

    [Fact]
    public void Launches_beyond_sm90_limits_are_rejected()
    {
        using var device = new EmulatedCudaDevice();
        CudaFunction rowSum = device.Function(File, "emu_test_row_sum");
        CudaFunction treeSum = device.Function(File, "emu_test_tree_sum");
        nint input = device.Allocate(64 * 1024 * sizeof(float)), output = device.Allocate(64 * sizeof(float));
        int n = 1024;
        void** args = stackalloc void*[] { &input, &output, &n };

        Assert.Contains("1024 threads per block", Assert.Throws<CudaException>(() =>
            device.Launch(rowSum, new Dim3(1), new Dim3(1025), 0, args)).Message);
        Assert.Throws<CudaException>(() => device.Launch(rowSum, new Dim3(1), new Dim3(1, 1, 65), 0, args));
        Assert.Throws<CudaException>(() => device.Launch(rowSum, new Dim3(1, 65536), new Dim3(32), 0, args));
        Assert.Throws<CudaException>(() => device.Launch(rowSum, new Dim3(0), new Dim3(32), 0, args));

        // Dynamic shared memory above 48 KiB needs the opt-in, and the opt-in stops at 227 KiB.
        Assert.Contains("opt-in", Assert.Throws<CudaException>(() =>
            device.Launch(treeSum, new Dim3(1), new Dim3(32), 49 * 1024, args)).Message);
        device.SetMaxDynamicSharedBytes(treeSum, 64 * 1024);
        device.Launch(treeSum, new Dim3(1), new Dim3(32), 49 * 1024, args);
        Assert.Throws<CudaException>(() => device.SetMaxDynamicSharedBytes(treeSum, 228 * 1024));

        // 128 registers x 1024 threads = 131072 > 65536; 512 threads fit exactly.
        device.SetRegisterCount(rowSum, 128);
        Assert.Contains("65536", Assert.Throws<CudaException>(() =>
            device.Launch(rowSum, new Dim3(1), new Dim3(1024), 0, args)).Message);
        device.Launch(rowSum, new Dim3(1), new Dim3(512), 0, args);
        device.Synchronize();
    }

    [Fact]
    public void Misaligned_host_and_out_of_range_pointers_are_rejected()
    {
        using var device = new EmulatedCudaDevice();
        CudaFunction copy = device.Function(File, "emu_test_copy_float4");
        nint input = device.Allocate(1024), output = device.Allocate(1024);
        int n = 4;
        nint misaligned = input + 4;
        void** args = stackalloc void*[] { &misaligned, &output, &n };
        Assert.Contains("not aligned to 16 bytes", Assert.Throws<CudaException>(() =>
            device.Launch(copy, new Dim3(1), new Dim3(32), 0, args)).Message);

        float* host = stackalloc float[16];
        nint hostPointer = (nint)host;
        args[0] = &hostPointer;
        Assert.Contains("not device memory", Assert.Throws<CudaException>(() =>
            device.Launch(copy, new Dim3(1), new Dim3(32), 0, args)).Message);

        nint nearEnd = output + 1020, insideAllocation = input + 256;
        Assert.Contains("past the end", Assert.Throws<CudaException>(() => device.CopyDeviceToHost(host, nearEnd, 8)).Message);
        Assert.Throws<CudaException>(() => device.Free(insideAllocation));
    }

    [Fact]
    public void Deferred_launches_run_at_synchronize_and_reads_before_it_see_old_values()
    {
        using var device = new EmulatedCudaDevice(new EmulatorOptions { DeferredLaunches = true });
        float[] x = Sequence(100, i => i);
        nint buffer = Upload(device, x);
        int n = x.Length;
        void** args = stackalloc void*[] { &buffer, &n };
        CudaFunction addOne = device.Function(File, "emu_test_add_one");
        device.Launch(addOne, new Dim3(4), new Dim3(32), 0, args);
        device.Launch(addOne, new Dim3(4), new Dim3(32), 0, args);

        // Without Synchronize the copy runs ahead of the kernels (and even of the upload).
        Assert.Contains(Download<float>(device, buffer, n), float.IsNaN);
        device.Synchronize();
        Assert.Equal(Sequence(100, i => i + 2), Download<float>(device, buffer, n));

        // An error in a deferred launch surfaces at Synchronize, with the lines.
        void** divergentArgs = stackalloc void*[] { &buffer };
        device.Launch(device.Function(File, "emu_test_divergent_barrier"), new Dim3(1), new Dim3(32), 0, divergentArgs);
        var error = Assert.Throws<CudaException>(device.Synchronize);
        Assert.Contains(TestKernelLine("EMU_TEST_DIVERGENT_A"), error.Message);
    }

    [Fact]
    public void Atomics_from_concurrent_blocks_count_exactly()
    {
        using var device = new EmulatedCudaDevice(new EmulatorOptions { Workers = 2 });
        nint count = device.Allocate(sizeof(int)), sum = device.Allocate(sizeof(float));
        device.Memset(count, 0, sizeof(int));
        device.Memset(sum, 0, sizeof(float));
        void** args = stackalloc void*[] { &count, &sum };
        device.Launch(device.Function(File, "emu_test_atomics"), new Dim3(16), new Dim3(128), 0, args);
        device.Synchronize();
        Assert.Equal(2048, Download<int>(device, count, 1)[0]);
        Assert.Equal(1024f, Download<float>(device, sum, 1)[0]);
    }

    [Fact]
    public void Rmsnorm_of_64_rows_of_4096_matches_the_host()
    {
        using var device = new EmulatedCudaDevice();
        const int rows = 64, n = 4096;
        float[] x = Sequence(rows * n, i => MathF.Sin(i * 0.001f) + 0.1f * (i % 5));
        float[] w = Sequence(n, i => 1 + 0.01f * (i % 7));
        nint output = device.Allocate(rows * n * sizeof(float)), input = Upload(device, x), weight = Upload(device, w);
        int columns = n;
        float eps = 1e-5f;
        void** args = stackalloc void*[] { &output, &input, &weight, &columns, &eps };
        device.Launch(device.Function(File, "emu_test_rmsnorm"), new Dim3(rows), new Dim3(256), 0, args);
        device.Synchronize();
        float[] y = Download<float>(device, output, rows * n);
        for (int r = 0; r < rows; r++)
        {
            double meanSquare = 0;
            for (int i = 0; i < n; i++) meanSquare += (double)x[r * n + i] * x[r * n + i];
            double rstd = 1 / Math.Sqrt(meanSquare / n + eps);
            for (int i = 0; i < n; i++)
                Assert.True(Math.Abs(y[r * n + i] - x[r * n + i] * rstd * w[i]) <= 1e-5 * (1 + Math.Abs(x[r * n + i] * rstd * w[i])));
        }
    }

    [Fact]
    public void An_unknown_kernel_name_is_an_error_that_names_it()
    {
        using var device = new EmulatedCudaDevice();
        Assert.Contains("no_such_kernel", Assert.Throws<CudaException>(() => device.Function("x.cu", "no_such_kernel")).Message);
    }

    [Fact]
    public void A_kernel_looked_up_under_another_file_is_not_found_as_on_a_gpu()
    {
        using var device = new EmulatedCudaDevice();
        Assert.Contains("defined in emulator_test_kernels.cu, not in rmsnorm.cu",
            Assert.Throws<CudaException>(() => device.Function("rmsnorm.cu", "emu_test_add_one")).Message);
    }
}
