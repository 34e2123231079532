namespace FastSelfReward.Compute.Cuda;

/// <summary>
/// The self-test's check of the tensor-core instructions of kernels/common/mma.cuh: one warp stages a
/// 16×16 and a 16×8 bf16 tile in shared memory, loads their fragments with ldmatrix (x4, and x2.trans)
/// and multiplies them with mma.sync.m16n8k16 (kernels/warp_matrix_probe.cu, probe_tile); the product
/// must be exact, the operands having few mantissa bits. On a GPU this holds the hardware to the PTX
/// ISA's fragment layouts, which the emulator's twins follow; on the emulator, the twins.
/// </summary>
public static unsafe class TensorCoreCheck
{
    private const string Name = "tensor cores: ldmatrix + mma.sync.m16n8k16 bf16 tile";

    public static SelfTestResult Run(ICudaDevice device)
    {
        var random = new Random(11);
        // k/8 for |k| <= 32: bf16-exact, and every product and sum of 16 of them exact in fp32.
        float[] a = [.. Enumerable.Range(0, 16 * 16).Select(_ => random.Next(-32, 33) / 8f)];
        float[] b = [.. Enumerable.Range(0, 16 * 8).Select(_ => random.Next(-32, 33) / 8f)];
        static ushort Bits(float v) => (ushort)(BitConverter.SingleToUInt32Bits(v) >> 16);
        ushort[] aBits = [.. a.Select(Bits)], bBits = [.. b.Select(Bits)];
        var d = new float[16 * 8];
        nint pa = 0, pb = 0, pd = 0;
        try
        {
            pa = device.Allocate(aBits.Length * sizeof(ushort));
            pb = device.Allocate(bBits.Length * sizeof(ushort));
            pd = device.Allocate(d.Length * sizeof(float));
            fixed (ushort* p = aBits) device.CopyHostToDevice(pa, p, aBits.Length * sizeof(ushort));
            fixed (ushort* p = bBits) device.CopyHostToDevice(pb, p, bBits.Length * sizeof(ushort));
            void** args = stackalloc void*[] { &pa, &pb, &pd };
            device.Launch(device.Function("warp_matrix_probe.cu", "warp_matrix_probe_tile"), new Dim3(1), new Dim3(32), 0, args);
            device.Synchronize();
            fixed (float* p = d) device.CopyDeviceToHost(p, pd, d.Length * sizeof(float));
        }
        catch (CudaException e)
        {
            return new SelfTestResult(Name, false, $"{e.GetType().Name}: {e.Message}");
        }
        finally
        {
            foreach (nint p in new[] { pa, pb, pd }) if (p != 0) device.Free(p);
        }
        int wrong = 0;
        string first = "";
        for (int m = 0; m < 16; m++)
            for (int n = 0; n < 8; n++)
            {
                double expected = 0;
                for (int k = 0; k < 16; k++) expected += (double)a[m * 16 + k] * b[k * 8 + n];
                if (expected == d[m * 8 + n]) continue;
                if (wrong++ == 0) first = $"; first at row {m}, col {n}: {d[m * 8 + n]}, expected {expected}";
            }
        return new SelfTestResult(Name, wrong == 0, $"{wrong} of 128 elements differ from the exact product{first}");
    }
}
