package synth

// The semantic classes of the synthetic scenes; the value is the semseg label.
const (
	ClassWall = iota
	ClassFloor
	ClassCeiling
	ClassDoor
	ClassWindow
	ClassPicture
	ClassTable
	ClassChair
	ClassSofa
	ClassBed
	ClassCabinet
	ClassShelves
	ClassLamp
	ClassTVMonitor
	ClassPlant
	ClassPerson
	NumClasses
)

// ClassNames returns the names of the semantic classes, indexed by label (dataset.json
// "semseg_classes").
func ClassNames() []string { return append([]string(nil), classNames[:]...) }

var classNames = [NumClasses]string{
	"wall", "floor", "ceiling", "door", "window", "picture", "table", "chair", "sofa",
	"bed", "cabinet", "shelves", "lamp", "tvmonitor", "plant", "person",
}

// HumanPartNames returns the human part labels (background and the 6 PASCAL-Context
// parts), indexed by label.
func HumanPartNames() []string {
	return []string{"background", "head", "torso", "upper arm", "lower arm", "upper leg", "lower leg"}
}

// DefaultSalientClasses returns the classes whose pixels are salient by default: people
// and plants (free-standing, distinctive in shape, in over a third of the scenes).
func DefaultSalientClasses() []int { return []int{ClassPerson, ClassPlant} }

// nyuClass maps a class to its NYUv2-40 label as stored in the NYUD segmentation PNGs
// (1..40; the loader subtracts 1): wall 1, floor 2, cabinet 3, bed 4, chair 5, sofa 6,
// table 7, door 8, window 9, picture 11, shelves 15, ceiling 22, television 25,
// person 31, lamp 35, otherprop 40.
var nyuClass = [NumClasses]uint8{1, 2, 22, 8, 9, 11, 7, 5, 6, 4, 3, 15, 35, 25, 40, 31}

// vocClass maps a class to its PASCAL VOC label (0 background, chair 9, diningtable 11,
// person 15, pottedplant 16, sofa 18, tvmonitor 20).
var vocClass = [NumClasses]uint8{0, 0, 0, 0, 0, 0, 11, 9, 18, 0, 0, 0, 0, 20, 16, 15}

// vocNames are the names the PASCAL-Part annotation uses for the VOC classes.
var vocNames = map[uint8]string{9: "chair", 11: "diningtable", 15: "person", 16: "pottedplant", 18: "sofa", 20: "tvmonitor"}

// contextClass maps a class to its PASCAL-Context id (context_classes.json of the
// official code) for the LabelMap: wall 440, floor 158, ceiling 68, door 115, window 454,
// picture 287, table 397, chair 72, sofa 368, bed 18, cabinet 46, shelves 349, light 232,
// tvmonitor 427, plant 293, person 284. Every one is in the official loader's
// normals_valid_classes, so its normals are kept.
var contextClass = [NumClasses]uint16{440, 158, 68, 115, 454, 287, 397, 72, 368, 18, 46, 349, 232, 427, 293, 284}

// Human part labels.
const (
	partHead     = 1
	partTorso    = 2
	partUpperArm = 3
	partLowerArm = 4
	partUpperLeg = 5
	partLowerLeg = 6
)

// pascalPartNames are the PASCAL-Part names written into the human_parts .mat files
// (index 0 unused); the official loader groups them into the 6 parts with its
// HUMAN_PART[6] table.
var pascalPartNames = []string{"", "head", "hair", "neck", "torso", "luarm", "ruarm", "llarm", "rlarm",
	"lhand", "rhand", "luleg", "ruleg", "llleg", "rlleg", "lfoot", "rfoot"}

// Indices into pascalPartNames.
const (
	pnHead = iota + 1
	pnHair
	pnNeck
	pnTorso
	pnLUArm
	pnRUArm
	pnLLArm
	pnRLArm
	pnLHand
	pnRHand
	pnLULeg
	pnRULeg
	pnLLLeg
	pnRLLeg
	pnLFoot
	pnRFoot
)
