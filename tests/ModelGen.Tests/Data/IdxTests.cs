using System;
using System.Buffers.Binary;
using System.IO;
using System.IO.Compression;
using ModelGen.Data;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Data;

public sealed class IdxTests : IDisposable
{
    readonly TempDirectory _temp = new("modelgen-idx-");

    public void Dispose() => _temp.Dispose();

    internal static byte[] Header(params int[] words)
    {
        var b = new byte[words.Length * 4];
        for (int i = 0; i < words.Length; i++) BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(i * 4), words[i]);
        return b;
    }

    internal static byte[] Concat(byte[] a, byte[] b)
    {
        var r = new byte[a.Length + b.Length];
        a.CopyTo(r, 0);
        b.CopyTo(r, a.Length);
        return r;
    }

    internal static byte[] Gzip(byte[] raw)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(raw);
        return ms.ToArray();
    }

    string Write(string name, byte[] bytes)
    {
        string path = _temp.File(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    static byte[] Pixels(int n)
    {
        var b = new byte[n];
        for (int i = 0; i < n; i++) b[i] = (byte)(i * 7);
        return b;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReadsImages(bool gzip)
    {
        var raw = Concat(Header(2051, 3, 2, 4), Pixels(24));
        string path = Write(gzip ? "img.idx3.gz" : "img.idx3", gzip ? Gzip(raw) : raw);
        var d = Idx.Read(path);
        Assert.True(d.IsImages);
        Assert.Equal(3, d.Count);
        Assert.Equal(2, d.Rows);
        Assert.Equal(4, d.Cols);
        Assert.Equal(Pixels(24), d.Data);
        var (count, rows, cols, pixels) = Idx.ReadImages(path);
        Assert.Equal((3, 2, 4), (count, rows, cols));
        Assert.Equal(Pixels(24), pixels);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReadsLabels(bool gzip)
    {
        var raw = Concat(Header(2049, 5), new byte[] { 9, 0, 3, 1, 7 });
        string path = Write(gzip ? "lab.gz" : "lab", gzip ? Gzip(raw) : raw);
        Assert.Equal(new byte[] { 9, 0, 3, 1, 7 }, Idx.ReadLabels(path));
        var d = Idx.Read(path);
        Assert.False(d.IsImages);
        Assert.Equal(5, d.Count);
    }

    [Fact]
    public void EmptyLabelFile_IsValid()
    {
        Assert.Empty(Idx.ReadLabels(Write("empty", Header(2049, 0))));
    }

    [Fact]
    public void BadMagic_NamesFileAndMagic()
    {
        string path = Write("bad.idx", Concat(Header(2050, 1), new byte[] { 1 }));
        var e = Assert.Throws<ModelGen.InvalidDataException>(() => Idx.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("2050", e.Message);
        Assert.Contains("2051", e.Message);
    }

    [Fact]
    public void TruncatedImages_NameFileAndCounts()
    {
        string path = Write("short.idx3.gz", Gzip(Concat(Header(2051, 10, 28, 28), new byte[9 * 784])));
        var e = Assert.Throws<ModelGen.InvalidDataException>(() => Idx.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("10 images", e.Message);
        Assert.Contains((9 * 784).ToString(), e.Message);
    }

    [Fact]
    public void TruncatedLabels_NameFileAndCounts()
    {
        string path = Write("short-labels", Concat(Header(2049, 6), new byte[4]));
        var e = Assert.Throws<ModelGen.InvalidDataException>(() => Idx.ReadLabels(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("6 labels", e.Message);
        Assert.Contains("only 4", e.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(12)]
    public void TruncatedHeader_Throws(int length)
    {
        var full = Header(2051, 1, 1, 1);
        string path = Write("header", full.AsSpan(0, length).ToArray());
        var e = Assert.Throws<ModelGen.InvalidDataException>(() => Idx.Read(path));
        Assert.Contains("truncated", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void CutGzipStream_Throws()
    {
        var gz = Gzip(Concat(Header(2051, 20, 28, 28), Pixels(20 * 784)));
        string path = Write("cut.gz", gz.AsSpan(0, gz.Length / 2).ToArray());
        var e = Assert.Throws<ModelGen.InvalidDataException>(() => Idx.Read(path));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void NotGzipAtAll_Throws()
    {
        string path = Write("plain.gz", Concat(Header(2049, 1), new byte[] { 1 }));
        Assert.Throws<ModelGen.InvalidDataException>(() => Idx.Read(path));
    }

    [Fact]
    public void TrailingData_Throws()
    {
        string path = Write("long", Concat(Header(2049, 2), new byte[] { 1, 2, 3 }));
        var e = Assert.Throws<ModelGen.InvalidDataException>(() => Idx.Read(path));
        Assert.Contains("after the 2 bytes", e.Message);
    }

    [Fact]
    public void NegativeOrZeroSizes_Throw()
    {
        Assert.Throws<ModelGen.InvalidDataException>(() => Idx.Read(Write("neg", Header(2049, -1))));
        Assert.Throws<ModelGen.InvalidDataException>(() => Idx.Read(Write("zero", Header(2051, 1, 0, 28))));
    }

    [Fact]
    public void WrongKind_Throws()
    {
        string labels = Write("l", Concat(Header(2049, 1), new byte[] { 1 }));
        string images = Write("i", Concat(Header(2051, 1, 1, 1), new byte[] { 1 }));
        Assert.Throws<ModelGen.InvalidDataException>(() => Idx.ReadImages(labels));
        Assert.Throws<ModelGen.InvalidDataException>(() => Idx.ReadLabels(images));
    }
}
