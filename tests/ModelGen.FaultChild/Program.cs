using System;
using System.IO;
using System.Linq;
using ModelGen;

// Saves one checkpoint file over and over, as a training loop does, until it is killed: generation g fills every value of every
// parameter with g, so a file that loads holds exactly one generation. It starts from the generation the file already holds and
// prints "saved g" after each save.
//
//   dotnet ModelGen.FaultChild.dll CHECKPOINT [MEGABYTES]

if (args.Length is < 1 or > 2)
{
    Console.Error.WriteLine("usage: ModelGen.FaultChild CHECKPOINT [MEGABYTES]");
    return 2;
}
string path = args[0];
int megabytes = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 16;
int perParameter = megabytes * 1024 * 1024 / 4 / 8;
var parameters = new ParameterSet(Enumerable.Range(0, 8).Select(i => new Parameter($"layers.{i}.weight", new[] { perParameter }, decay: true)));
int generation = 0;
if (File.Exists(path))
{
    parameters.Load(path);
    generation = (int)parameters[0].Value[0];
}
while (true)
{
    generation++;
    foreach (var p in parameters) Array.Fill(p.Value, generation);
    parameters.Save(path);
    Console.WriteLine($"saved {generation}");
}
