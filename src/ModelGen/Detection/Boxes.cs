using System;

namespace ModelGen.Detection;

/// <summary>Axis-aligned boxes: (cx, cy, w, h) as DETR predicts them and (x0, y0, x1, y1) corners; IoU and generalized IoU
/// (Rezatofighi et al.) with its gradient, as torchvision's <c>box_convert</c> and <c>generalized_box_iou</c> compute them.</summary>
public static class Boxes
{
    /// <summary>(cx, cy, w, h) → (x0, y0, x1, y1), four values a box.</summary>
    public static void ToCorners(ReadOnlySpan<float> centered, Span<float> corners)
    {
        if (centered.Length % 4 != 0 || corners.Length != centered.Length)
            throw new ArgumentException($"Boxes are 4 values each: {centered.Length} in, room for {corners.Length} out.", nameof(corners));
        for (int i = 0; i < centered.Length; i += 4)
        {
            float cx = centered[i], cy = centered[i + 1], w = centered[i + 2], h = centered[i + 3];
            corners[i] = cx - 0.5f * w;
            corners[i + 1] = cy - 0.5f * h;
            corners[i + 2] = cx + 0.5f * w;
            corners[i + 3] = cy + 0.5f * h;
        }
    }

    /// <summary>Intersection over union of two corner boxes; 0 when neither has area.</summary>
    public static double IoU(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double inter = Overlap(a[0], a[2], b[0], b[2]) * Overlap(a[1], a[3], b[1], b[3]);
        double union = Area(a) + Area(b) - inter;
        return union > 0 ? inter / union : 0;
    }

    /// <summary>Generalized IoU of two corner boxes: IoU − (C − U)/C with C the smallest box enclosing both; in [−1, 1].</summary>
    public static double GeneralizedIoU(ReadOnlySpan<double> a, ReadOnlySpan<double> b) => GeneralizedIoU(a, b, default);

    /// <summary>Generalized IoU of <paramref name="p"/> and <paramref name="t"/>, and when <paramref name="dp"/> is not empty its
    /// gradient with respect to p's corners (where a min or max is tied, the gradient goes to neither side's larger box).</summary>
    public static double GeneralizedIoU(ReadOnlySpan<double> p, ReadOnlySpan<double> t, Span<double> dp)
    {
        double iw = Math.Min(p[2], t[2]) - Math.Max(p[0], t[0]), ih = Math.Min(p[3], t[3]) - Math.Max(p[1], t[1]);
        double rw = Math.Max(iw, 0), rh = Math.Max(ih, 0), inter = rw * rh;
        double areaP = Area(p), union = areaP + Area(t) - inter;
        double cw = Math.Max(p[2], t[2]) - Math.Min(p[0], t[0]), ch = Math.Max(p[3], t[3]) - Math.Min(p[1], t[1]), enclosing = cw * ch;
        if (union <= 0 || enclosing <= 0)
        {
            if (!dp.IsEmpty) dp.Clear();
            return 0;
        }
        double g = inter / union - (enclosing - union) / enclosing;
        if (dp.IsEmpty) return g;
        // g = I/U − 1 + U/C with U = A_p + A_t − I.
        double dI = 1 / union + inter / (union * union) - 1 / enclosing, dA = -inter / (union * union) + 1 / enclosing, dC = -union / (enclosing * enclosing);
        double pw = p[2] - p[0], ph = p[3] - p[1];
        // Intersection: its width moves with p's right edge when it is the inner one, and against p's left edge likewise.
        double dIw = iw > 0 ? rh : 0, dIh = ih > 0 ? rw : 0;
        dp[0] = dI * (p[0] > t[0] ? -dIw : 0) + dA * -ph + dC * (p[0] < t[0] ? -ch : 0);
        dp[2] = dI * (p[2] < t[2] ? dIw : 0) + dA * ph + dC * (p[2] > t[2] ? ch : 0);
        dp[1] = dI * (p[1] > t[1] ? -dIh : 0) + dA * -pw + dC * (p[1] < t[1] ? -cw : 0);
        dp[3] = dI * (p[3] < t[3] ? dIh : 0) + dA * pw + dC * (p[3] > t[3] ? cw : 0);
        return g;
    }

    static double Area(ReadOnlySpan<double> b) => (b[2] - b[0]) * (b[3] - b[1]);

    static double Overlap(double a0, double a1, double b0, double b1) => Math.Max(0, Math.Min(a1, b1) - Math.Max(a0, b0));
}
