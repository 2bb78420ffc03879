using System;
using System.Buffers.Binary;
using System.IO;
using System.IO.Compression;

namespace ModelGen.Data;

/// <summary>The contents of an IDX file (the MNIST format): images (magic 2051) or labels (magic 2049).</summary>
public sealed class IdxData
{
    internal IdxData(int magic, int count, int rows, int cols, byte[] data)
    {
        Magic = magic;
        Count = count;
        Rows = rows;
        Cols = cols;
        Data = data;
    }

    /// <summary><see cref="Idx.ImagesMagic"/> or <see cref="Idx.LabelsMagic"/>.</summary>
    public int Magic { get; }

    public bool IsImages => Magic == Idx.ImagesMagic;

    /// <summary>Number of images or labels.</summary>
    public int Count { get; }

    /// <summary>Image height (0 for a label file).</summary>
    public int Rows { get; }

    /// <summary>Image width (0 for a label file).</summary>
    public int Cols { get; }

    /// <summary>Images row-major (Count·Rows·Cols bytes), or one byte per label.</summary>
    public byte[] Data { get; }
}

/// <summary>Reads IDX files: unsigned-byte images (magic 2051) and labels (magic 2049), gzip-compressed when the name ends in .gz.</summary>
public static class Idx
{
    public const int ImagesMagic = 2051;
    public const int LabelsMagic = 2049;

    /// <summary>Reads an IDX file from disk.</summary>
    /// <exception cref="ModelGen.InvalidDataException">Bad magic, truncated data, trailing data or impossible sizes.</exception>
    public static IdxData Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var file = File.OpenRead(path);
        return Read(file, path, path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>Reads an image file (magic 2051).</summary>
    /// <exception cref="ModelGen.InvalidDataException">The file is not a valid IDX image file.</exception>
    public static (int Count, int Rows, int Cols, byte[] Pixels) ReadImages(string path)
    {
        var d = Read(path);
        if (!d.IsImages)
            throw new InvalidDataException($"IDX file '{path}' holds labels (magic {d.Magic}) where images (magic {ImagesMagic}) were expected.");
        return (d.Count, d.Rows, d.Cols, d.Data);
    }

    /// <summary>Reads a label file (magic 2049).</summary>
    /// <exception cref="ModelGen.InvalidDataException">The file is not a valid IDX label file.</exception>
    public static byte[] ReadLabels(string path)
    {
        var d = Read(path);
        if (d.IsImages)
            throw new InvalidDataException($"IDX file '{path}' holds images (magic {d.Magic}) where labels (magic {LabelsMagic}) were expected.");
        return d.Data;
    }

    /// <summary>Reads an IDX stream; <paramref name="name"/> is what error messages call it.</summary>
    public static IdxData Read(Stream stream, string name, bool gzip)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(name);
        try
        {
            if (gzip)
            {
                using var unzipped = new GZipStream(stream, CompressionMode.Decompress, leaveOpen: true);
                return ReadRaw(unzipped, name);
            }
            return ReadRaw(stream, name);
        }
        catch (InvalidDataException)
        {
            throw;
        }
        catch (System.IO.InvalidDataException e)
        {
            // GZipStream's own complaint about a damaged or truncated gzip stream.
            throw new InvalidDataException($"IDX file '{name}' is not a valid gzip stream: {e.Message}");
        }
    }

    static IdxData ReadRaw(Stream s, string name)
    {
        Span<byte> header = stackalloc byte[16];
        int got = ReadFully(s, header[..8]);
        if (got < 8)
            throw new InvalidDataException($"IDX file '{name}' is truncated: its header needs 8 bytes but the file has {got}.");
        int magic = BinaryPrimitives.ReadInt32BigEndian(header);
        int count = BinaryPrimitives.ReadInt32BigEndian(header[4..]);
        int rows = 0, cols = 0;
        long length;
        if (magic == ImagesMagic)
        {
            got = ReadFully(s, header[8..16]);
            if (got < 8)
                throw new InvalidDataException($"IDX file '{name}' is truncated: its image header needs 16 bytes but the file has {8 + got}.");
            rows = BinaryPrimitives.ReadInt32BigEndian(header[8..]);
            cols = BinaryPrimitives.ReadInt32BigEndian(header[12..]);
            if (count < 0 || rows <= 0 || cols <= 0)
                throw new InvalidDataException($"IDX file '{name}' declares {count} images of {rows}×{cols}, which is not a valid size.");
            length = (long)count * rows * cols;
        }
        else if (magic == LabelsMagic)
        {
            if (count < 0)
                throw new InvalidDataException($"IDX file '{name}' declares {count} labels, which is not a valid count.");
            length = count;
        }
        else
        {
            throw new InvalidDataException(
                $"IDX file '{name}' has magic number {magic} (0x{magic:X8}); expected {ImagesMagic} (unsigned-byte images) or {LabelsMagic} (unsigned-byte labels).");
        }
        if (length > Array.MaxLength)
            throw new InvalidDataException($"IDX file '{name}' declares {length} bytes of data, more than an array can hold.");

        var data = new byte[length];
        int read = ReadFully(s, data);
        if (read < length)
        {
            string what = magic == ImagesMagic ? $"{count} images of {rows}×{cols} ({length} bytes)" : $"{count} labels";
            throw new InvalidDataException(
                $"IDX file '{name}' is truncated: the header declares {what} but only {read} data bytes follow.");
        }
        Span<byte> one = stackalloc byte[1];
        if (s.Read(one) != 0)
            throw new InvalidDataException($"IDX file '{name}' has data after the {length} bytes its header declares.");
        return new IdxData(magic, count, rows, cols, data);
    }

    static int ReadFully(Stream s, Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = s.Read(buffer[total..]);
            if (n == 0) break;
            total += n;
        }
        return total;
    }
}
