using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using ModelGen.IO;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.IO;

public sealed class SafeTensorsTests : IDisposable
{
    readonly TempDirectory _temp = new("modelgen-safetensors-");

    public void Dispose() => _temp.Dispose();

    string PathOf(string name) => _temp.File(name);

    static float[] Ramp(int n, float scale = 0.25f, int offset = 8)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = ((i % 33) - offset) * scale;
        return a;
    }

    static List<SafeTensor> Sample() =>
    [
        new("layers.0.weight", [3, 4], Ramp(12)),
        new("layers.0.bias", [4], Ramp(4, 0.5f, 1)),
        new("scale", [], [2.5f]),
        new("empty", [0, 5], []),
        new("a.deep", [2, 1, 3], Ramp(6, 1f, 3)),
        new("ünïcode.wéight", [2], [float.MaxValue, -float.Epsilon]),
    ];

    static readonly Dictionary<string, string> SampleMetadata = new()
    {
        ["format"] = "pt",
        ["note"] = "quote \" backslash \\ newline \n ü",
    };

    static void AssertSame(IEnumerable<SafeTensor> expected, IReadOnlyDictionary<string, SafeTensor> actual)
    {
        var list = expected.ToList();
        Assert.Equal(list.Select(t => t.Name).OrderBy(n => n, StringComparer.Ordinal), actual.Keys.OrderBy(n => n, StringComparer.Ordinal));
        foreach (var t in list)
        {
            var a = actual[t.Name];
            Assert.Equal(t.Name, a.Name);
            Assert.Equal(t.Shape, a.Shape);
            Assert.Equal(t.Data, a.Data);
        }
    }

    // ---- round trip ----

    [Fact]
    public void RoundTrip_KeepsNamesShapesValuesAndMetadata()
    {
        string path = PathOf("model.safetensors");
        SafeTensors.Save(path, Sample(), SampleMetadata);

        var (tensors, metadata) = SafeTensors.LoadWithMetadata(path);
        AssertSame(Sample(), tensors);
        Assert.Equal(SampleMetadata.OrderBy(kv => kv.Key), metadata.OrderBy(kv => kv.Key));

        AssertSame(Sample(), SafeTensors.Load(path));
    }

    [Fact]
    public void RoundTrip_SpecialFloatValuesKeepTheirBits()
    {
        string path = PathOf("special.safetensors");
        float[] values = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, -0f, 0f, float.Epsilon, 1e-40f, BitConverter.Int32BitsToSingle(0x7FC01234)];
        SafeTensors.Save(path, [new SafeTensor("x", [values.Length], values)]);
        var back = SafeTensors.Load(path)["x"].Data;
        Assert.Equal(values.Select(BitConverter.SingleToInt32Bits), back.Select(BitConverter.SingleToInt32Bits));
    }

    [Fact]
    public void RoundTrip_NoTensorsAndNoMetadata()
    {
        string path = PathOf("nothing.safetensors");
        SafeTensors.Save(path, []);
        var (tensors, metadata) = SafeTensors.LoadWithMetadata(path);
        Assert.Empty(tensors);
        Assert.Empty(metadata);
        Assert.Equal(16, new FileInfo(path).Length); // 8-byte length + "{}" padded to 8
    }

    [Fact]
    public void Save_WritesTensorsSortedByNameWithContiguousOffsetsAndPaddedHeader()
    {
        string path = PathOf("layout.safetensors");
        SafeTensors.Save(path, Sample(), SampleMetadata);
        byte[] bytes = File.ReadAllBytes(path);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0UL, n % 8);
        string header = Encoding.UTF8.GetString(bytes, 8, (int)n);
        Assert.StartsWith("{\"__metadata__\":", header);

        using var doc = System.Text.Json.JsonDocument.Parse(header);
        var names = doc.RootElement.EnumerateObject().Select(p => p.Name).Where(p => p != "__metadata__").ToList();
        Assert.Equal(names.OrderBy(x => x, StringComparer.Ordinal), names);
        long offset = 0;
        foreach (var name in names)
        {
            var o = doc.RootElement.GetProperty(name).GetProperty("data_offsets");
            Assert.Equal(offset, o[0].GetInt64());
            offset = o[1].GetInt64();
        }
        Assert.Equal(bytes.Length - 8 - (long)n, offset);
    }

    [Fact]
    public void Save_ProducesExactlyTheExpectedBytes()
    {
        string path = PathOf("tiny.safetensors");
        SafeTensors.Save(path,
            [new SafeTensor("b", [2], [1f, -2f]), new SafeTensor("a", [], [0.5f])],
            new Dictionary<string, string> { ["k"] = "v" });

        // {"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}
        // is 132 bytes, padded with 4 spaces to 136 = 0x88.
        string header =
            "{\"__metadata__\":{\"k\":\"v\"}," +
            "\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}," +
            "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}" +
            "    ";
        var expected = new List<byte> { 0x88, 0, 0, 0, 0, 0, 0, 0 };
        expected.AddRange(Encoding.ASCII.GetBytes(header));
        expected.AddRange(new byte[] { 0x00, 0x00, 0x00, 0x3F }); // a = 0.5
        expected.AddRange(new byte[] { 0x00, 0x00, 0x80, 0x3F }); // b[0] = 1
        expected.AddRange(new byte[] { 0x00, 0x00, 0x00, 0xC0 }); // b[1] = -2

        Assert.Equal(136, header.Length);
        Assert.Equal(expected.ToArray(), File.ReadAllBytes(path));
    }

    [Fact]
    public void Load_ReadsAHandWrittenFile()
    {
        // One tensor, no padding needed by readers: header {"w":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]}}
        string header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[0,8]}}";
        string path = WriteRaw("hand.safetensors", header, [0x00, 0x00, 0x40, 0x40, 0x00, 0x00, 0x80, 0xBF]);
        var t = SafeTensors.Load(path)["w"];
        Assert.Equal([1, 2], t.Shape);
        Assert.Equal([3f, -1f], t.Data);
    }

    // ---- other dtypes ----

    [Fact]
    public void Load_ConvertsF16BF16AndF64ToFloat()
    {
        var data = new List<byte>();
        void U16(ushort v) { data.Add((byte)v); data.Add((byte)(v >> 8)); }
        // F16: 1, -2, 0.5, 65504, smallest subnormal 2^-24, -inf
        foreach (ushort h in new ushort[] { 0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0xFC00 }) U16(h);
        // BF16: 1, -2.5, 3.140625, 1e38-ish 0x7E96 (= 9.9692e37)
        foreach (ushort b in new ushort[] { 0x3F80, 0xC020, 0x4049, 0x7E96 }) U16(b);
        // F64: 0.1, -1e300 (overflows float to -inf), 2^-149 (float's smallest subnormal)
        foreach (double d in new[] { 0.1, -1e300, Math.Pow(2, -149) })
        {
            var buf = new byte[8];
            BinaryPrimitives.WriteDoubleLittleEndian(buf, d);
            data.AddRange(buf);
        }
        string header =
            "{\"h\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,12]}," +
            "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[12,20]}," +
            "\"d\":{\"dtype\":\"F64\",\"shape\":[3],\"data_offsets\":[20,44]}}";
        string path = WriteRaw("dtypes.safetensors", header, data.ToArray());

        var t = SafeTensors.Load(path);
        Assert.Equal([2, 3], t["h"].Shape);
        Assert.Equal([1f, -2f, 0.5f, 65504f, MathF.Pow(2, -24), float.NegativeInfinity], t["h"].Data);
        Assert.Equal([1f, -2.5f, 3.140625f, BitConverter.Int32BitsToSingle(0x7E960000)], t["b"].Data);
        Assert.Equal([0.1f, float.NegativeInfinity, float.Epsilon], t["d"].Data);
    }

    [Fact]
    public void Load_ConvertsLargeF16TensorsAcrossReadChunks()
    {
        const int n = 700_000; // 1.4 MB of F16, more than one 1 MiB read chunk
        var data = new byte[2 * n];
        var expected = new float[n];
        for (int i = 0; i < n; i++)
        {
            var h = (Half)((i % 2048) - 1024);
            BinaryPrimitives.WriteHalfLittleEndian(data.AsSpan(2 * i), h);
            expected[i] = (float)h;
        }
        string header = $"{{\"x\":{{\"dtype\":\"F16\",\"shape\":[{n}],\"data_offsets\":[0,{2 * n}]}}}}";
        string path = WriteRaw("big16.safetensors", header, data);
        Assert.Equal(expected, SafeTensors.Load(path)["x"].Data);
    }

    [Fact]
    public void RoundTrip_LargeTensorAcrossWriteChunks()
    {
        string path = PathOf("big.safetensors");
        var big = new SafeTensor("big", [600, 1000], Ramp(600_000));
        SafeTensors.Save(path, [big]);
        AssertSame([big], SafeTensors.Load(path));
    }

    // ---- malformed files ----

    string WriteRaw(string name, string header, byte[] data, ulong? headerLength = null)
    {
        byte[] h = Encoding.UTF8.GetBytes(header);
        return WriteRawBytes(name, h, data, headerLength);
    }

    string WriteRawBytes(string name, byte[] header, byte[] data, ulong? headerLength = null)
    {
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, headerLength ?? (ulong)header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        string path = PathOf(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    static SafeTensorsFormatException AssertMalformed(string path, params string[] fragments)
    {
        var ex = Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Load(path));
        Assert.Contains(path, ex.Message);
        Assert.Equal(path, ex.FilePath);
        foreach (var f in fragments) Assert.Contains(f, ex.Message);
        // LoadWithMetadata fails the same way.
        Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.LoadWithMetadata(path));
        return ex;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    public void Malformed_FileShorterThanEightBytes(int length)
    {
        string path = PathOf("short.safetensors");
        File.WriteAllBytes(path, new byte[length]);
        AssertMalformed(path, $"{length} bytes");
    }

    [Fact]
    public void Malformed_HeaderLengthLargerThanFile()
    {
        string path = WriteRaw("long.safetensors", "{}      ", [], headerLength: 1000);
        AssertMalformed(path, "1000", "8 bytes");
    }

    [Theory]
    [InlineData(100_000_001UL)]
    [InlineData(ulong.MaxValue)]
    [InlineData(0x8000_0000_0000_0000UL)]
    public void Malformed_HeaderLengthAbsurd(ulong length)
    {
        string path = WriteRaw("absurd.safetensors", "{}      ", [], headerLength: length);
        AssertMalformed(path, length.ToString(CultureInfo.InvariantCulture), "100000000");
    }

    [Theory]
    [InlineData("")]
    [InlineData("        ")]
    [InlineData("{not json}")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}")]
    [InlineData("{\"a\":1,}")]
    public void Malformed_HeaderNotJson(string header)
    {
        string path = WriteRaw("notjson.safetensors", header, [0, 0, 0, 0]);
        AssertMalformed(path, "not valid");
    }

    [Fact]
    public void Malformed_HeaderNotUtf8()
    {
        string path = WriteRawBytes("notutf8.safetensors", [(byte)'{', (byte)'"', 0xFF, 0xFE, (byte)'"', (byte)':', (byte)'1', (byte)'}'], []);
        AssertMalformed(path, "not valid UTF-8");

        // Valid UTF-8 and valid JSON, but an escaped lone surrogate that no string can hold.
        path = WriteRaw("surrogate.safetensors", "{\"\\ud800\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}", []);
        AssertMalformed(path, "cannot be decoded");
        path = WriteRaw("surrogate2.safetensors", "{\"__metadata__\":{\"k\":\"\\udc00x\"}}", []);
        AssertMalformed(path, "cannot be decoded");
    }

    [Theory]
    [InlineData("[1,2]", "Array")]
    [InlineData("\"text\"", "String")]
    [InlineData("42", "Number")]
    [InlineData("null", "Null")]
    public void Malformed_HeaderNotAnObject(string header, string kind)
    {
        string path = WriteRaw("notobject.safetensors", header, []);
        AssertMalformed(path, "not an object", kind);
    }

    [Theory]
    [InlineData("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", "no dtype")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", "no shape")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", "no data_offsets")]
    [InlineData("{\"a\":7}", "not an object")]
    [InlineData("{\"a\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]}}", "not a string")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", "not an array")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", "not an array of two integers")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", "not an array of two integers")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":\"0,4\"}}", "not an array of two integers")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-1,3]}}", "non-negative")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0.5,4]}}", "non-negative")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,18446744073709551615]}}", "18446744073709551615")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", "1.5")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", "not an integer")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[3000000000],\"data_offsets\":[0,4]}}", "3000000000")]
    [InlineData("{\"__metadata__\":[1],\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "__metadata__")]
    [InlineData("{\"__metadata__\":{\"k\":1},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "'k'")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}", "twice")]
    public void Malformed_BadTensorEntry(string header, string fragment)
    {
        string path = WriteRaw("entry.safetensors", header, [0, 0, 0x80, 0x3F]);
        AssertMalformed(path, fragment);
    }

    [Theory]
    [InlineData("I8")]
    [InlineData("F8_E4M3")]
    [InlineData("f32")]
    [InlineData("")]
    public void Malformed_UnknownDtype(string dtype)
    {
        string path = WriteRaw("dtype.safetensors", $"{{\"a\":{{\"dtype\":\"{dtype}\",\"shape\":[4],\"data_offsets\":[0,4]}}}}", [1, 2, 3, 4]);
        AssertMalformed(path, $"'{dtype}'", "F32");
    }

    [Fact]
    public void Malformed_NegativeDimension()
    {
        string path = WriteRaw("neg.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,0]}}", []);
        AssertMalformed(path, "negative", "-1");
    }

    [Fact]
    public void Malformed_ShapeDisagreesWithOffsets()
    {
        string path = WriteRaw("size.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", new byte[8]);
        AssertMalformed(path, "[3]", "12 bytes", "[0, 8]", "8 bytes");

        path = WriteRaw("size16.safetensors", "{\"a\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", new byte[16]);
        AssertMalformed(path, "8 bytes", "16 bytes");
    }

    [Fact]
    public void Malformed_ShapeProductOverflows()
    {
        string path = WriteRaw("overflow.safetensors",
            "{\"a\":{\"dtype\":\"F64\",\"shape\":[2147483647,2147483647,2147483647],\"data_offsets\":[0,8]}}", new byte[8]);
        AssertMalformed(path, "overflow");

        // Product fits in 64 bits but times the dtype size does not.
        path = WriteRaw("overflow2.safetensors",
            "{\"a\":{\"dtype\":\"F64\",\"shape\":[2147483647,2147483647],\"data_offsets\":[0,8]}}", new byte[8]);
        AssertMalformed(path);

        // Fits in bytes, but more elements than an array can hold.
        path = WriteRaw("overflow3.safetensors",
            "{\"a\":{\"dtype\":\"F16\",\"shape\":[2147483647,2],\"data_offsets\":[0,8589934588]}}", new byte[8]);
        AssertMalformed(path);
    }

    [Fact]
    public void ZeroDimensionMakesAnEmptyTensorEvenBesideHugeOnes()
    {
        string path = WriteRaw("zero.safetensors",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647,2147483647,0],\"data_offsets\":[0,0]}}", []);
        var t = SafeTensors.Load(path)["a"];
        Assert.Empty(t.Data);
        Assert.Equal([int.MaxValue, int.MaxValue, int.MaxValue, 0], t.Shape);
    }

    [Fact]
    public void Malformed_OffsetsPastTheDataBuffer()
    {
        string path = WriteRaw("past.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", new byte[8]);
        AssertMalformed(path, "[0, 16]", "8-byte data buffer");
    }

    [Fact]
    public void Malformed_OffsetsEndBeforeTheyBegin()
    {
        string path = WriteRaw("backwards.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", new byte[8]);
        AssertMalformed(path, "[8, 0]");
    }

    [Fact]
    public void Malformed_OverlappingOffsets()
    {
        string path = WriteRaw("overlap.safetensors",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
            new byte[12]);
        AssertMalformed(path, "overlap", "[4, 12]", "[0, 8]");

        // The same range twice.
        path = WriteRaw("same.safetensors",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
            new byte[8]);
        AssertMalformed(path, "overlap");
    }

    [Fact]
    public void Malformed_GapBetweenTensors()
    {
        string path = WriteRaw("gap.safetensors",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
            new byte[12]);
        AssertMalformed(path, "gap", "[4, 8]");

        path = WriteRaw("lead.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", new byte[8]);
        AssertMalformed(path, "gap", "[0, 4]");
    }

    [Fact]
    public void Malformed_TrailingBytesNotCovered()
    {
        string path = WriteRaw("trailing.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[9]);
        AssertMalformed(path, "cover 4 bytes", "holds 9");

        path = WriteRaw("trailing0.safetensors", "{}", new byte[3]);
        AssertMalformed(path, "cover 0 bytes", "holds 3");
    }

    [Fact]
    public void Malformed_EveryTruncationOfAValidFileThrowsTheFormatException()
    {
        string good = PathOf("good.safetensors");
        SafeTensors.Save(good, Sample(), SampleMetadata);
        byte[] bytes = File.ReadAllBytes(good);
        string cut = PathOf("cut.safetensors");
        for (int length = 0; length < bytes.Length; length++)
        {
            File.WriteAllBytes(cut, bytes.AsSpan(0, length).ToArray());
            var ex = Record.Exception(() => SafeTensors.Load(cut));
            Assert.True(ex is SafeTensorsFormatException,
                $"truncated to {length} of {bytes.Length} bytes: expected SafeTensorsFormatException, got {ex?.GetType().Name ?? "no exception"}: {ex?.Message}");
            Assert.Contains(cut, ex!.Message);
        }
    }

    [Fact]
    public void Malformed_CorruptingAnyHeaderByteEitherLoadsOrThrowsTheFormatException()
    {
        string good = PathOf("good.safetensors");
        SafeTensors.Save(good, Sample().Where(t => t.Name is "scale" or "empty" or "a.deep" or "ünïcode.wéight"), SampleMetadata);
        byte[] bytes = File.ReadAllBytes(good);
        string bad = PathOf("bad.safetensors");
        byte[] replacements = [0x00, (byte)'9', (byte)'-', (byte)'"', (byte)']', 0xFF];
        int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        for (int i = 0; i < headerEnd; i++)
        {
            foreach (byte r in replacements)
            {
                if (bytes[i] == r) continue;
                var copy = (byte[])bytes.Clone();
                copy[i] = r;
                File.WriteAllBytes(bad, copy);
                var ex = Record.Exception(() => SafeTensors.Load(bad));
                Assert.True(ex is null or SafeTensorsFormatException,
                    $"byte {i} set to 0x{r:X2}: got {ex?.GetType().Name}: {ex?.Message}");
            }
        }
    }

    [Fact]
    public void MissingFile_ThrowsFileNotFoundWithThePath()
    {
        string path = PathOf("absent.safetensors");
        var ex = Assert.Throws<FileNotFoundException>(() => SafeTensors.Load(path));
        Assert.Contains(path, ex.Message + ex.FileName);
    }

    // ---- atomic save ----

    [Fact]
    public void Save_IntoMissingDirectoryThrowsAndLeavesNothingBehind()
    {
        string missing = PathOf("no-such-dir");
        Assert.ThrowsAny<IOException>(() => SafeTensors.Save(Path.Combine(missing, "m.safetensors"), Sample()));
        Assert.False(Directory.Exists(missing));
        Assert.Empty(Directory.EnumerateFileSystemEntries(_temp.Path));
    }

    [Fact]
    public void Save_WithMismatchedDataThrowsBeforeTouchingTheExistingFile()
    {
        string path = PathOf("keep.safetensors");
        SafeTensors.Save(path, Sample());
        byte[] before = File.ReadAllBytes(path);

        var bad = Sample();
        bad.Add(new SafeTensor("wrong", [2, 3], new float[5]));
        var ex = Assert.Throws<ArgumentException>(() => SafeTensors.Save(path, bad));
        Assert.Contains("wrong", ex.Message);
        Assert.Contains("6 elements", ex.Message);

        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal([path], Directory.GetFiles(_temp.Path));
    }

    [Theory]
    [InlineData("negative")]
    [InlineData("duplicate")]
    [InlineData("reserved")]
    [InlineData("throwing")]
    public void Save_InvalidInputThrowsAndLeavesTheExistingFileUntouched(string kind)
    {
        string path = PathOf("keep.safetensors");
        SafeTensors.Save(path, Sample());
        byte[] before = File.ReadAllBytes(path);

        IEnumerable<SafeTensor> Throwing()
        {
            yield return new SafeTensor("x", [1], [1f]);
            throw new InvalidOperationException("source failed");
        }
        IEnumerable<SafeTensor> input = kind switch
        {
            "negative" => [new SafeTensor("x", [-1, 2], [])],
            "duplicate" => [new SafeTensor("x", [1], [1f]), new SafeTensor("x", [1], [2f])],
            "reserved" => [new SafeTensor("__metadata__", [1], [1f])],
            _ => Throwing(),
        };
        Assert.ThrowsAny<Exception>(() => SafeTensors.Save(path, input));
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal([path], Directory.GetFiles(_temp.Path));
    }

    [Fact]
    public void Save_FailingAtTheMoveDeletesTheTemporaryFile()
    {
        // The target is a directory, so the final move fails after the temporary file is written.
        string target = PathOf("a-directory");
        Directory.CreateDirectory(target);
        Assert.ThrowsAny<Exception>(() => SafeTensors.Save(target, Sample()));
        Assert.Empty(Directory.GetFiles(_temp.Path));
        Assert.Empty(Directory.EnumerateFileSystemEntries(target));
    }

    [Fact]
    public void Save_OverwritesAnExistingFileAndLeavesNoTemporaryFile()
    {
        string path = PathOf("m.safetensors");
        SafeTensors.Save(path, Sample());
        SafeTensors.Save(path, [new SafeTensor("only", [1], [7f])]);
        Assert.Equal(["only"], SafeTensors.Load(path).Keys);
        Assert.Equal([path], Directory.GetFiles(_temp.Path));
    }

    [Fact]
    public void Save_RelativePathWorks()
    {
        string previous = Directory.GetCurrentDirectory();
        // Not changing the process's directory (tests run in parallel); a relative path resolved by the caller.
        string relative = Path.GetRelativePath(previous, PathOf("rel.safetensors"));
        SafeTensors.Save(relative, [new SafeTensor("x", [1], [1f])]);
        Assert.True(File.Exists(PathOf("rel.safetensors")));
    }

    // ---- interop with an independent reader and writer (PyTorch) ----

    // Reads the format by hand (struct + json), builds torch tensors, and writes back t*2+1 in four dtypes,
    // laid out in reverse name order with ASCII-escaped JSON, plus each input tensor's sum as metadata.
    const string InteropScript = """
import json, struct, sys, torch
src, dst = sys.argv[1], sys.argv[2]
raw = open(src, 'rb').read()
(n,) = struct.unpack('<Q', raw[:8])
assert n % 8 == 0, 'header not padded to 8'
header = json.loads(raw[8:8 + n].decode('utf-8'))
data = raw[8 + n:]
meta = header.pop('__metadata__', {})
names = list(header.keys())
assert names == sorted(names, key=lambda s: s.encode('utf-8')), 'tensors not sorted by name'
pos = 0
inputs = {}
for name in names:
    info = header[name]
    assert info['dtype'] == 'F32'
    b, e = info['data_offsets']
    assert b == pos, 'offsets not contiguous'
    pos = e
    count = 1
    for d in info['shape']:
        count *= d
    assert e - b == 4 * count
    values = struct.unpack('<%df' % count, data[b:e])
    inputs[name] = torch.tensor(values, dtype=torch.float32).reshape(info['shape'])
assert pos == len(data), 'data buffer not covered'

def pack(dtype, t):
    flat = t.reshape(-1)
    k = flat.numel()
    if dtype == 'F32':
        return struct.pack('<%df' % k, *flat.tolist())
    if dtype == 'F64':
        return struct.pack('<%dd' % k, *flat.tolist())
    return struct.pack('<%dh' % k, *flat.view(torch.int16).tolist())

out = []
for name, t in inputs.items():
    y = t * 2 + 1
    out.append((name + '.f32', 'F32', y))
    out.append((name + '.f64', 'F64', y.double()))
    out.append((name + '.f16', 'F16', y.half()))
    out.append((name + '.bf16', 'BF16', y.bfloat16()))
out.sort(key=lambda x: x[0], reverse=True)
new_header = {}
blobs = []
pos = 0
for name, dtype, t in out:
    blob = pack(dtype, t)
    new_header[name] = {'dtype': dtype, 'shape': list(t.shape), 'data_offsets': [pos, pos + len(blob)]}
    blobs.append(blob)
    pos += len(blob)
new_meta = dict(meta)
new_meta['reader'] = 'torch ' + torch.__version__
for name, t in inputs.items():
    new_meta['sum:' + name] = repr(float(t.double().sum()))
new_header = dict([('__metadata__', new_meta)] + sorted(new_header.items()))
h = json.dumps(new_header, separators=(',', ':')).encode('utf-8')
h += b' ' * ((8 - len(h) % 8) % 8)
with open(dst, 'wb') as f:
    f.write(struct.pack('<Q', len(h)))
    f.write(h)
    for blob in blobs:
        f.write(blob)
""";

    [SkippableFact]
    public void Interop_PyTorchReadsOurFileAndWeReadItsFile()
    {
        Torch.RequireOrSkip();

        // Values are multiples of 0.25 in [-2, 6], so t*2+1 is exact in F16 and BF16 as well.
        var tensors = new List<SafeTensor>
        {
            new("encoder.layers.0.weight", [4, 3], Ramp(12)),
            new("encoder.layers.0.bias", [3], Ramp(3, 0.25f, 1)),
            new("scalar", [], [-1.75f]),
            new("empty", [2, 0], []),
            new("ünï", [1, 2, 2], Ramp(4, 0.5f, 2)),
        };
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["ü"] = "\"quoted\"\n" };
        string ours = PathOf("ours.safetensors");
        string theirs = PathOf("theirs.safetensors");
        string script = PathOf("interop.py");
        File.WriteAllText(script, InteropScript);
        SafeTensors.Save(ours, tensors, metadata);

        var (code, output) = Torch.Run([script, ours, theirs], TimeSpan.FromMinutes(3));
        Assert.True(code == 0, $"python exited with {code}:\n{output}");

        var (back, backMeta) = SafeTensors.LoadWithMetadata(theirs);
        Assert.Equal(4 * tensors.Count, back.Count);
        Assert.StartsWith("torch ", backMeta["reader"]);
        Assert.Equal("pt", backMeta["format"]);
        Assert.Equal("\"quoted\"\n", backMeta["ü"]);
        foreach (var t in tensors)
        {
            var expected = t.Data.Select(v => v * 2 + 1).ToArray();
            foreach (var suffix in new[] { ".f32", ".f64", ".f16", ".bf16" })
            {
                var b = back[t.Name + suffix];
                Assert.Equal(t.Shape, b.Shape);
                Assert.Equal(expected, b.Data);
            }
            double sum = double.Parse(backMeta["sum:" + t.Name], CultureInfo.InvariantCulture);
            Assert.Equal(t.Data.Sum(v => (double)v), sum);
        }
    }
}
