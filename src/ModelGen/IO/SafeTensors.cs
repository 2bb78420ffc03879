using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace ModelGen.IO;

/// <summary>One named tensor of a safetensors file: row-major float32 values.</summary>
/// <param name="Name">The tensor's key, such as a PyTorch <c>state_dict</c> name.</param>
/// <param name="Shape">Its dimensions; empty for a scalar.</param>
/// <param name="Data">Its values, as many as the product of <paramref name="Shape"/>.</param>
public sealed record SafeTensor(string Name, int[] Shape, float[] Data);

/// <summary>A safetensors file is malformed. The message names the file and what is wrong with it.</summary>
public sealed class SafeTensorsFormatException : Exception
{
    public SafeTensorsFormatException(string message) : base(message)
    {
    }

    public SafeTensorsFormatException(string message, Exception innerException) : base(message, innerException)
    {
    }

    /// <summary>The file that was being read, when known.</summary>
    public string? FilePath { get; init; }
}

/// <summary>
/// Reads and writes the safetensors format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
/// naming each tensor's dtype, shape and data offsets (plus an optional <c>__metadata__</c> map of strings),
/// then the little-endian data buffer. Writes F32; reads F32, F64, F16 and BF16, converting to float.
/// </summary>
public static class SafeTensors
{
    /// <summary>The largest header accepted, as in the reference implementation.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    const string MetadataKey = "__metadata__";
    const int ChunkBytes = 1 << 20;

    /// <summary>
    /// Writes <paramref name="tensors"/> (sorted by name, F32) and <paramref name="metadata"/> to <paramref name="path"/>.
    /// Atomic: the file is written beside the target under a temporary name, flushed to disk and then moved over it,
    /// so a failure leaves any existing file as it was and no temporary file behind.
    /// </summary>
    public static void Save(string path, IEnumerable<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(tensors);

        var list = Validate(tensors, metadata);
        byte[] header = BuildHeader(list, metadata);

        string full = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(full) ?? throw new ArgumentException($"'{path}' names no file.", nameof(path));
        string temp = Path.Combine(directory, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        bool created = false;
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                created = true;
                Span<byte> prefix = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
                stream.Write(prefix);
                stream.Write(header);
                foreach (var t in list) WriteFloats(stream, t.Data);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            if (created)
            {
                try { File.Delete(temp); }
                catch (IOException) { }
                catch (UnauthorizedAccessException) { }
            }
            throw;
        }
    }

    /// <summary>Reads every tensor of a safetensors file, by name.</summary>
    /// <exception cref="SafeTensorsFormatException">The file is malformed; nothing is returned.</exception>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    public static IReadOnlyDictionary<string, SafeTensor> Load(string path) => LoadWithMetadata(path).Tensors;

    /// <summary>Reads every tensor of a safetensors file, by name, and its <c>__metadata__</c> (empty when absent).</summary>
    /// <exception cref="SafeTensorsFormatException">The file is malformed; nothing is returned.</exception>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    public static (IReadOnlyDictionary<string, SafeTensor> Tensors, IReadOnlyDictionary<string, string> Metadata) LoadWithMetadata(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        long fileLength = stream.Length;
        if (fileLength < 8)
            throw Fail(path, $"the file is {fileLength} bytes long, shorter than the 8-byte header length");

        Span<byte> prefix = stackalloc byte[8];
        ReadExactly(stream, prefix, path, "the header length");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > MaxHeaderBytes)
            throw Fail(path, $"the header length {headerLength} is larger than the {MaxHeaderBytes}-byte limit");
        if (headerLength > (ulong)(fileLength - 8))
            throw Fail(path, $"the header length {headerLength} is larger than the {fileLength - 8} bytes that follow it (file of {fileLength} bytes)");

        var header = new byte[(int)headerLength];
        ReadExactly(stream, header, path, "the header");
        long dataStart = 8 + (long)headerLength;
        long dataLength = fileLength - dataStart;

        var (entries, metadata) = ParseHeader(path, header, dataLength);

        var tensors = new Dictionary<string, SafeTensor>(entries.Count, StringComparer.Ordinal);
        foreach (var e in entries)
        {
            var data = new float[e.Count];
            if (e.End > e.Begin)
            {
                stream.Seek(dataStart + e.Begin, SeekOrigin.Begin);
                ReadTensor(stream, e, data, path);
            }
            tensors.Add(e.Name, new SafeTensor(e.Name, e.Shape, data));
        }
        return (tensors, metadata);
    }

    // ---- writing ----

    static List<SafeTensor> Validate(IEnumerable<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var list = new List<SafeTensor>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            if (t is null) throw new ArgumentException("A tensor is null.", nameof(tensors));
            if (string.IsNullOrEmpty(t.Name)) throw new ArgumentException("A tensor has no name.", nameof(tensors));
            if (t.Name == MetadataKey) throw new ArgumentException($"'{MetadataKey}' is reserved and cannot name a tensor.", nameof(tensors));
            if (!names.Add(t.Name)) throw new ArgumentException($"Two tensors are named '{t.Name}'.", nameof(tensors));
            if (t.Shape is null) throw new ArgumentException($"Tensor '{t.Name}' has no shape.", nameof(tensors));
            if (t.Data is null) throw new ArgumentException($"Tensor '{t.Name}' has no data.", nameof(tensors));
            long count = 1;
            foreach (int d in t.Shape)
            {
                if (d < 0) throw new ArgumentException($"Tensor '{t.Name}' has a negative dimension in shape {FormatShape(t.Shape)}.", nameof(tensors));
                count = count > int.MaxValue ? count : count * d; // exact while it could still equal an array length
            }
            if (Array.IndexOf(t.Shape, 0) >= 0) count = 0;
            if (count != t.Data.Length)
                throw new ArgumentException($"Tensor '{t.Name}' has shape {FormatShape(t.Shape)}, {count} elements, but {t.Data.Length} values.", nameof(tensors));
            list.Add(t);
        }
        if (metadata is not null)
        {
            foreach (var (k, v) in metadata)
            {
                if (k is null || v is null) throw new ArgumentException("Metadata keys and values must not be null.", nameof(metadata));
            }
        }
        list.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return list;
    }

    static byte[] BuildHeader(List<SafeTensor> list, IReadOnlyDictionary<string, string>? metadata)
    {
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(MetadataKey);
                foreach (var (k, v) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)) json.WriteString(k, v);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in list)
            {
                long end = offset + 4L * t.Data.Length;
                json.WriteStartObject(t.Name);
                json.WriteString("dtype", "F32");
                json.WriteStartArray("shape");
                foreach (int d in t.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(end);
                json.WriteEndArray();
                json.WriteEndObject();
                offset = end;
            }
            json.WriteEndObject();
        }
        int padding = (int)((8 - buffer.Length % 8) % 8);
        for (int i = 0; i < padding; i++) buffer.WriteByte((byte)' ');
        return buffer.ToArray();
    }

    static void WriteFloats(Stream stream, float[] data)
    {
        if (BitConverter.IsLittleEndian)
        {
            var bytes = MemoryMarshal.AsBytes(data.AsSpan());
            for (int i = 0; i < bytes.Length; i += ChunkBytes)
                stream.Write(bytes.Slice(i, Math.Min(ChunkBytes, bytes.Length - i)));
            return;
        }
        var chunk = new byte[ChunkBytes];
        for (int i = 0; i < data.Length;)
        {
            int n = Math.Min(ChunkBytes / 4, data.Length - i);
            for (int j = 0; j < n; j++) BinaryPrimitives.WriteSingleLittleEndian(chunk.AsSpan(4 * j), data[i + j]);
            stream.Write(chunk, 0, 4 * n);
            i += n;
        }
    }

    // ---- reading ----

    enum DType { F32, F64, F16, BF16 }

    sealed record Entry(string Name, DType DType, int[] Shape, int Count, long Begin, long End);

    static int SizeOf(DType t) => t switch { DType.F64 => 8, DType.F32 => 4, _ => 2 };

    static (List<Entry> Entries, IReadOnlyDictionary<string, string> Metadata) ParseHeader(string path, byte[] header, long dataLength)
    {
        if (!System.Text.Unicode.Utf8.IsValid(header))
            throw Fail(path, $"the {header.Length}-byte header is not valid UTF-8");

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException ex)
        {
            throw Fail(path, $"the {header.Length}-byte header is not valid JSON ({ex.Message})", ex);
        }
        catch (ArgumentException ex)
        {
            throw Fail(path, $"the {header.Length}-byte header is not valid UTF-8 JSON ({ex.Message})", ex);
        }

        using (doc)
        {
            try
            {
                return ParseRoot(path, doc.RootElement, dataLength);
            }
            catch (InvalidOperationException ex)
            {
                // Strings JsonDocument accepted but cannot decode, such as an escaped lone surrogate.
                throw Fail(path, $"the header holds text that cannot be decoded ({ex.Message})", ex);
            }
        }
    }

    static (List<Entry> Entries, IReadOnlyDictionary<string, string> Metadata) ParseRoot(string path, JsonElement root, long dataLength)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw Fail(path, $"the header is a JSON {root.ValueKind}, not an object");

        var entries = new List<Entry>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        bool sawMetadata = false;
        foreach (var property in root.EnumerateObject())
        {
            string name = property.Name;
            if (name == MetadataKey)
            {
                if (sawMetadata) throw Fail(path, $"'{MetadataKey}' appears twice in the header");
                sawMetadata = true;
                ParseMetadata(path, property.Value, metadata);
                continue;
            }
            if (!names.Add(name)) throw Fail(path, $"tensor '{name}' appears twice in the header");
            entries.Add(ParseEntry(path, name, property.Value));
        }

        CheckLayout(path, entries, dataLength);
        return (entries, metadata);
    }

    static void ParseMetadata(string path, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind == JsonValueKind.Null) return;
        if (value.ValueKind != JsonValueKind.Object)
            throw Fail(path, $"'{MetadataKey}' is a JSON {value.ValueKind}, not an object of strings");
        foreach (var item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw Fail(path, $"'{MetadataKey}' entry '{item.Name}' is a JSON {item.Value.ValueKind}, not a string");
            if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
                throw Fail(path, $"'{MetadataKey}' entry '{item.Name}' appears twice");
        }
    }

    static Entry ParseEntry(string path, string name, JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Fail(path, $"tensor '{name}' is described by a JSON {value.ValueKind}, not an object");

        if (!value.TryGetProperty("dtype", out var dtypeElement))
            throw Fail(path, $"tensor '{name}' has no dtype");
        if (dtypeElement.ValueKind != JsonValueKind.String)
            throw Fail(path, $"tensor '{name}' has a dtype that is a JSON {dtypeElement.ValueKind}, not a string");
        string dtypeName = dtypeElement.GetString()!;
        DType dtype = dtypeName switch
        {
            "F32" => DType.F32,
            "F64" => DType.F64,
            "F16" => DType.F16,
            "BF16" => DType.BF16,
            _ => throw Fail(path, $"tensor '{name}' has dtype '{dtypeName}'; only F32, F64, F16 and BF16 can be read"),
        };

        if (!value.TryGetProperty("shape", out var shapeElement))
            throw Fail(path, $"tensor '{name}' has no shape");
        if (shapeElement.ValueKind != JsonValueKind.Array)
            throw Fail(path, $"tensor '{name}' has a shape that is a JSON {shapeElement.ValueKind}, not an array");
        var shape = new int[shapeElement.GetArrayLength()];
        long count = 1;
        bool overflow = false;
        int index = 0;
        foreach (var dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long d))
                throw Fail(path, $"tensor '{name}' has shape dimension {index} = {dim.GetRawText()}, not an integer");
            if (d < 0)
                throw Fail(path, $"tensor '{name}' has negative shape dimension {index} = {d}");
            if (d > int.MaxValue)
                throw Fail(path, $"tensor '{name}' has shape dimension {index} = {d}, larger than {int.MaxValue}");
            shape[index++] = (int)d;
            if (!overflow)
            {
                try { count = checked(count * d); }
                catch (OverflowException) { overflow = true; }
            }
        }
        int size = SizeOf(dtype);
        long bytes = 0;
        if (!overflow)
        {
            try { bytes = checked(count * size); }
            catch (OverflowException) { overflow = true; }
        }
        if (overflow)
        {
            // A zero dimension anywhere makes the product zero regardless of the others.
            if (Array.IndexOf(shape, 0) >= 0) { count = 0; bytes = 0; }
            else throw Fail(path, $"tensor '{name}' has shape {FormatShape(shape)} whose size overflows 64 bits");
        }

        if (!value.TryGetProperty("data_offsets", out var offsetsElement))
            throw Fail(path, $"tensor '{name}' has no data_offsets");
        if (offsetsElement.ValueKind != JsonValueKind.Array || offsetsElement.GetArrayLength() != 2)
            throw Fail(path, $"tensor '{name}' has data_offsets {offsetsElement.GetRawText()}, not an array of two integers");
        var offsets = new long[2];
        for (int i = 0; i < 2; i++)
        {
            var o = offsetsElement[i];
            if (o.ValueKind != JsonValueKind.Number || !o.TryGetUInt64(out ulong u))
                throw Fail(path, $"tensor '{name}' has data_offsets {offsetsElement.GetRawText()}, not two non-negative integers");
            if (u > long.MaxValue)
                throw Fail(path, $"tensor '{name}' has data offset {u}, larger than any file");
            offsets[i] = (long)u;
        }
        long begin = offsets[0], end = offsets[1];
        if (end < begin)
            throw Fail(path, $"tensor '{name}' has data_offsets [{begin}, {end}] that end before they begin");
        if (end - begin != bytes)
            throw Fail(path, $"tensor '{name}' has shape {FormatShape(shape)} of {dtypeName}, {count} elements = {bytes} bytes, but data_offsets [{begin}, {end}] span {end - begin} bytes");
        if (count > Array.MaxLength)
            throw Fail(path, $"tensor '{name}' has {count} elements, more than one array can hold ({Array.MaxLength})");

        return new Entry(name, dtype, shape, (int)count, begin, end);
    }

    /// <summary>The tensors must tile the data buffer exactly: no gaps, no overlaps, nothing past its end.</summary>
    static void CheckLayout(string path, List<Entry> entries, long dataLength)
    {
        foreach (var e in entries)
        {
            if (e.End > dataLength)
                throw Fail(path, $"tensor '{e.Name}' has data_offsets [{e.Begin}, {e.End}] past the end of the {dataLength}-byte data buffer (is the file truncated?)");
        }
        var sorted = entries.OrderBy(e => e.Begin).ThenBy(e => e.End).ToList();
        long position = 0;
        Entry? previous = null;
        foreach (var e in sorted)
        {
            if (e.Begin < position)
                throw Fail(path, $"tensor '{e.Name}' data_offsets [{e.Begin}, {e.End}] overlap tensor '{previous!.Name}' [{previous.Begin}, {previous.End}]");
            if (e.Begin > position)
                throw Fail(path, $"the data buffer has a gap of {e.Begin - position} bytes at [{position}, {e.Begin}] that no tensor covers");
            position = e.End;
            previous = e;
        }
        if (position != dataLength)
            throw Fail(path, $"the tensors cover {position} bytes but the data buffer holds {dataLength}; {dataLength - position} bytes at its end belong to no tensor");
    }

    static void ReadTensor(Stream stream, Entry e, float[] data, string path)
    {
        if (e.DType == DType.F32 && BitConverter.IsLittleEndian)
        {
            var bytes = MemoryMarshal.AsBytes(data.AsSpan());
            for (int i = 0; i < bytes.Length; i += ChunkBytes)
                ReadExactly(stream, bytes.Slice(i, Math.Min(ChunkBytes, bytes.Length - i)), path, $"tensor '{e.Name}'");
            return;
        }

        int size = SizeOf(e.DType);
        var chunk = new byte[ChunkBytes];
        int perChunk = ChunkBytes / size;
        for (int i = 0; i < data.Length;)
        {
            int n = Math.Min(perChunk, data.Length - i);
            var span = chunk.AsSpan(0, n * size);
            ReadExactly(stream, span, path, $"tensor '{e.Name}'");
            var target = data.AsSpan(i, n);
            switch (e.DType)
            {
                case DType.F32:
                    for (int j = 0; j < n; j++) target[j] = BinaryPrimitives.ReadSingleLittleEndian(span.Slice(4 * j));
                    break;
                case DType.F64:
                    for (int j = 0; j < n; j++) target[j] = (float)BinaryPrimitives.ReadDoubleLittleEndian(span.Slice(8 * j));
                    break;
                case DType.F16:
                    for (int j = 0; j < n; j++) target[j] = (float)BinaryPrimitives.ReadHalfLittleEndian(span.Slice(2 * j));
                    break;
                case DType.BF16:
                    for (int j = 0; j < n; j++)
                        target[j] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(span.Slice(2 * j)) << 16);
                    break;
            }
            i += n;
        }
    }

    static void ReadExactly(Stream stream, Span<byte> buffer, string path, string what)
    {
        try
        {
            stream.ReadExactly(buffer);
        }
        catch (EndOfStreamException ex)
        {
            throw Fail(path, $"the file ended while reading {what} ({buffer.Length} bytes at offset {stream.Position}); it changed while being read or is truncated", ex);
        }
    }

    static SafeTensorsFormatException Fail(string path, string what, Exception? inner = null)
    {
        string message = $"'{path}' is not a valid safetensors file: {what}.";
        return inner is null
            ? new SafeTensorsFormatException(message) { FilePath = path }
            : new SafeTensorsFormatException(message, inner) { FilePath = path };
    }

    static string FormatShape(int[] shape) =>
        "[" + string.Join(", ", shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + "]";
}
