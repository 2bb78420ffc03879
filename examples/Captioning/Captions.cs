using System;
using System.Linq;
using ModelGen.Data;

namespace ModelGen.Examples.Captioning;

/// <summary>The token sequences of garment canvases: each canvas's garment classes (Fashion-MNIST labels 0–9) ordered by their left
/// edge (then their top), between a begin and an end token.</summary>
public static class Captions
{
    public const int Classes = 10, Bos = 10, Eos = 11, Pad = 12, Vocab = 13;

    /// <summary>At most four garments per canvas, so five positions: BOS and four classes in, four classes and EOS out.</summary>
    public const int MaxGarments = 4, Length = MaxGarments + 1;

    public static string Name(int token) => token switch
    {
        Bos => "<bos>",
        Eos => "<eos>",
        Pad => "<pad>",
        _ => FashionMnist.ClassNames[token],
    };

    /// <summary>The classes of canvas <paramref name="index"/>, left to right.</summary>
    public static int[] Garments(SegmentationSet set, Dataset source, int index) =>
        set.Garments(index).OrderBy(g => g.Left).ThenBy(g => g.Top).Select(g => (int)source.Labels[g.SourceIndex]).ToArray();

    /// <summary>Teacher forcing: ids BOS c₁ … c_k PAD …, targets c₁ … c_k EOS PAD … (PAD is ignored by the loss).</summary>
    public static void Fill(int[] garments, Span<float> ids, Span<int> targets)
    {
        if (garments.Length > MaxGarments) throw new ArgumentException($"A canvas of {garments.Length} garments; the captions hold at most {MaxGarments}.");
        ids.Fill(Pad);
        targets.Fill(Pad);
        ids[0] = Bos;
        for (int i = 0; i < garments.Length; i++)
        {
            targets[i] = garments[i];
            if (i + 1 < Length) ids[i + 1] = garments[i];
        }
        targets[garments.Length] = Eos;
    }
}
