/**
 * ImageNet-style class names for the zero-shot benchmark: distinct, ordinary English names of
 * 1–3 words (the label sets the benchmark draws must not share a prompt, or a "cold" request
 * would find some of its embeddings already cached).
 */
const NAMES = `
tench|goldfish|great white shark|tiger shark|hammerhead shark|electric ray|stingray|rooster|hen|ostrich
brambling|goldfinch|house finch|junco|indigo bunting|robin|bulbul|jay|magpie|chickadee
water ouzel|kite|bald eagle|vulture|great grey owl|fire salamander|common newt|eft|spotted salamander|axolotl
bullfrog|tree frog|tailed frog|loggerhead turtle|leatherback turtle|mud turtle|terrapin|box turtle|banded gecko|common iguana
american chameleon|whiptail lizard|agama|frilled lizard|alligator lizard|gila monster|green lizard|african chameleon|komodo dragon|african crocodile
american alligator|triceratops|thunder snake|ringneck snake|hognose snake|green snake|king snake|garter snake|water snake|vine snake
night snake|boa constrictor|rock python|indian cobra|green mamba|sea snake|horned viper|diamondback|sidewinder|trilobite
harvestman|scorpion|garden spider|barn spider|black widow|tarantula|wolf spider|tick|centipede|black grouse
ptarmigan|ruffed grouse|prairie chicken|peacock|quail|partridge|african grey|macaw|cockatoo|lorikeet
coucal|bee eater|hornbill|hummingbird|jacamar|toucan|drake|merganser|goose|black swan
tusker|echidna|platypus|wallaby|koala|wombat|jellyfish|sea anemone|brain coral|flatworm
nematode|conch|snail|slug|sea slug|chiton|chambered nautilus|dungeness crab|rock crab|fiddler crab
king crab|american lobster|spiny lobster|crayfish|hermit crab|isopod|white stork|black stork|spoonbill|flamingo
little blue heron|american egret|bittern|crane|limpkin|european gallinule|american coot|bustard|ruddy turnstone|red-backed sandpiper
redshank|dowitcher|oystercatcher|pelican|king penguin|albatross|grey whale|killer whale|dugong|sea lion
chihuahua|japanese spaniel|maltese dog|pekinese|shih-tzu|blenheim spaniel|papillon|toy terrier|rhodesian ridgeback|afghan hound
basset|beagle|bloodhound|bluetick|black-and-tan coonhound|walker hound|english foxhound|redbone|borzoi|irish wolfhound
italian greyhound|whippet|ibizan hound|norwegian elkhound|otterhound|saluki|scottish deerhound|weimaraner|staffordshire bullterrier|bedlington terrier
border terrier|kerry blue terrier|irish terrier|norfolk terrier|norwich terrier|yorkshire terrier|wire-haired fox terrier|lakeland terrier|sealyham terrier|airedale
cairn|australian terrier|dandie dinmont|boston bull|miniature schnauzer|giant schnauzer|standard schnauzer|scotch terrier|tibetan terrier|silky terrier
west highland white terrier|lhasa|flat-coated retriever|curly-coated retriever|golden retriever|labrador retriever|chesapeake bay retriever|german short-haired pointer|vizsla|english setter
irish setter|gordon setter|brittany spaniel|clumber|english springer|welsh springer spaniel|cocker spaniel|sussex spaniel|irish water spaniel|kuvasz
schipperke|groenendael|malinois|briard|kelpie|komondor|old english sheepdog|shetland sheepdog|collie|border collie
bouvier des flandres|rottweiler|german shepherd|doberman|miniature pinscher|greater swiss mountain dog|bernese mountain dog|appenzeller|entlebucher|boxer
bull mastiff|tibetan mastiff|french bulldog|great dane|saint bernard|eskimo dog|malamute|siberian husky|dalmatian|affenpinscher
basenji|pug|leonberg|newfoundland|great pyrenees|samoyed|pomeranian|chow|keeshond|brabancon griffon
pembroke|cardigan|toy poodle|miniature poodle|standard poodle|mexican hairless|timber wolf|white wolf|red wolf|coyote
dingo|dhole|african hunting dog|hyena|red fox|kit fox|arctic fox|grey fox|tabby cat|tiger cat
persian cat|siamese cat|egyptian cat|cougar|lynx|leopard|snow leopard|jaguar|lion|tiger
cheetah|brown bear|american black bear|ice bear|sloth bear|mongoose|meerkat|tiger beetle|ladybug|ground beetle
long-horned beetle|leaf beetle|dung beetle|rhinoceros beetle|weevil|fly|bee|ant|grasshopper|cricket
walking stick|cockroach|mantis|cicada|leafhopper|lacewing|dragonfly|damselfly|admiral|ringlet
monarch butterfly|cabbage butterfly|sulphur butterfly|lycaenid|starfish|sea urchin|sea cucumber|wood rabbit|hare|angora
hamster|porcupine|fox squirrel|marmot|beaver|guinea pig|sorrel|zebra|hog|wild boar
warthog|hippopotamus|ox|water buffalo|bison|ram|bighorn|ibex|hartebeest|impala
gazelle|arabian camel|llama|weasel|mink|polecat|black-footed ferret|otter|skunk|badger
armadillo|three-toed sloth|orangutan|gorilla|chimpanzee|gibbon|siamang|guenon|patas|baboon
macaque|langur|colobus|proboscis monkey|marmoset|capuchin|howler monkey|titi|spider monkey|squirrel monkey
madagascar cat|indri|indian elephant|african elephant|lesser panda|giant panda|barracouta|eel|coho|rock beauty
anemone fish|sturgeon|gar|lionfish|puffer|abacus|abaya|academic gown|accordion|acoustic guitar
aircraft carrier|airliner|airship|altar|ambulance|amphibian|analog clock|apiary|apron|ashcan
assault rifle|backpack|bakery|balance beam|balloon|ballpoint|band aid|banjo|bannister|barbell
barber chair|barbershop|barn|barometer|barrel|barrow|baseball|basketball|bassinet|bassoon
bathing cap|bath towel|bathtub|beach wagon|beacon|beaker|bearskin|beer bottle|beer glass|bell cote
bib|bicycle-built-for-two|bikini|binder|binoculars|birdhouse|boathouse|bobsled|bolo tie|bonnet
`;

/** Every name once, in order. */
export const IMAGENET_LIKE_LABELS: readonly string[] = [
  ...new Set(
    NAMES.split(/[|\n]/)
      .map((name) => name.trim())
      .filter(Boolean),
  ),
];

/** `count` consecutive labels starting at `offset` (throws when the list runs out). */
export function labelSet(offset: number, count: number): string[] {
  if (offset + count > IMAGENET_LIKE_LABELS.length) {
    throw new Error(`need labels ${offset}..${offset + count - 1}, have ${IMAGENET_LIKE_LABELS.length}`);
  }
  return IMAGENET_LIKE_LABELS.slice(offset, offset + count);
}
