// tiles.cuh: where a block's tile of a packed ragged batch lies. Sequence b owns rows
// [cu_seqlens[b], cu_seqlens[b+1]); each sequence is cut into ceil(len_b / width) tiles of `width`
// rows, numbered through the batch in sequence order. The host cannot read cu_seqlens without
// stalling the stream, so it launches the upper bound ceil(n / width) + batch tiles, and the
// blocks past the last one find none and return.
#pragma once

namespace fsr {

// Tile `tile`'s sequence rows [start, end) and its first row; false past the last tile. The batch
// is small (tens of sequences), so a scan beats a table of offsets nobody allocated.
__device__ inline bool locate_tile(const int* cu_seqlens, long long batch, long long tile, int width, long long& start, long long& end,
                                   long long& first) {
    for (long long b = 0; b < batch; b++) {
        const long long s = cu_seqlens[b], e = cu_seqlens[b + 1];
        const long long tiles = (e - s + width - 1) / width;
        if (tile < tiles) {
            start = s;
            end = e;
            first = s + tile * width;
            return true;
        }
        tile -= tiles;
    }
    return false;
}

}  // namespace fsr
