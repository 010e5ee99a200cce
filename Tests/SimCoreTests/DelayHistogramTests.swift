import Testing
@testable import SimCore

/// The post-dial-delay histogram of the summaries: nearest-rank quantiles to the millisecond,
/// delays of 65.536 s and more kept exactly, merging, and bins for the report's chart.
@Suite struct DelayHistogramTests {
    @Test func quantilesAreNearestRankToTheMillisecond() {
        var h = DelayHistogram()
        #expect(h.quantile(0.5) == nil && h.mean == nil && h.buckets.isEmpty)
        for ms in [12_000, 4, 4_000, 8_000, 250] { h.add(.milliseconds(Int64(ms))) }
        h.add(SimTime(ns: 3_999_999)) // 3.999999 ms counts in the 3 ms bucket
        #expect(h.count == 6)
        #expect(h.quantile(0) == .milliseconds(3))
        #expect(h.quantile(0.5) == .milliseconds(250))   // rank 3 of 6
        #expect(h.quantile(0.51) == .milliseconds(4_000)) // rank 4
        #expect(h.quantile(1) == .milliseconds(12_000))
        #expect(h.maxNs == 12_000_000_000)
        // Grown to what was needed, never to the limit for short delays.
        #expect(h.buckets.count >= 12_001 && h.buckets.count <= DelayHistogram.limitMs)
    }

    @Test func longDelaysAreKeptExactlyBeyondTheBuckets() {
        var h = DelayHistogram()
        h.add(.milliseconds(1))
        h.add(SimTime(ns: 70_000_123_456))
        h.add(SimTime(ns: 65_536_000_000))
        #expect(h.buckets.count < DelayHistogram.limitMs)
        #expect(h.quantile(0.3) == .milliseconds(1))
        #expect(h.quantile(0.6) == SimTime(ns: 65_536_000_000))
        #expect(h.quantile(1) == SimTime(ns: 70_000_123_456))
    }

    @Test func mergingHistogramsOfDifferentSpans() {
        var a = DelayHistogram(), b = DelayHistogram()
        a.add(.milliseconds(5))
        b.add(.milliseconds(30_000)); b.add(.milliseconds(5)); b.add(.milliseconds(80_000))
        a.merge(b)
        #expect(a.count == 4 && a.quantile(0.5) == .milliseconds(5) && a.quantile(0.75) == .milliseconds(30_000))
        #expect(a.quantile(1) == .milliseconds(80_000))
        var c = DelayHistogram()
        c.merge(a)   // an empty one takes everything
        #expect(c.count == 4 && c.quantile(0.75) == .milliseconds(30_000))
        #expect(c.binned(widthMs: 10_000, bins: 4) == [2, 0, 0, 2]) // 30 s in bin 3, 80 s beyond the last
    }
}
