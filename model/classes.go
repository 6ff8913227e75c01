package model

// ClassNames returns the class names of a segmentation task where they are known:
// PASCAL-Context semseg (21 VOC classes), NYUD-v2 semseg (40) and PASCAL human parts (7).
func ClassNames(task string, channels int) []string {
	switch {
	case task == "semseg" && channels == 21:
		return append([]string(nil), vocClasses...)
	case task == "semseg" && channels == 40:
		return append([]string(nil), nyu40Classes...)
	case task == "human_parts" && channels == 7:
		return append([]string(nil), humanParts...)
	}
	return nil
}

var vocClasses = []string{"background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car",
	"cat", "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep",
	"sofa", "train", "tvmonitor"}

var nyu40Classes = []string{"wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window",
	"bookshelf", "picture", "counter", "blinds", "desk", "shelves", "curtain", "dresser", "pillow", "mirror",
	"floor mat", "clothes", "ceiling", "books", "refrigerator", "television", "paper", "towel",
	"shower curtain", "box", "whiteboard", "person", "night stand", "toilet", "sink", "lamp", "bathtub", "bag",
	"otherstructure", "otherfurniture", "otherprop"}

var humanParts = []string{"background", "head", "torso", "upper arm", "lower arm and hand", "upper leg",
	"lower leg and foot"}
