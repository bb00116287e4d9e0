// microexpr tabletop unit enclosure: Raspberry Pi 5 + Active Cooler + Camera Module 3.
// Parametric; every size in mm. Render: openscad -o enclosure.stl hw/enclosure.scad
// (-D 'part="base"' or -D 'part="lid"' for one part). Print in PETG, 0.2 mm layers,
// base upside down is not needed: no overhangs beyond the 45 degree camera bezel.
//
// Layout: the front wall (y = 0) faces the interviewee and holds the camera,
// tilted up by cam_tilt, with the red recording LED beside it so the person
// being recorded always sees when the camera is analysing. The fault LED and
// the session button sit on the lid, on the interviewer's side (the back).
// The Pi's USB/Ethernet end faces the back wall; USB-C power exits the left wall.

part = "both";          // "base", "lid" or "both"

wall = 2.4;
floor_t = 2.0;
lid_t = 2.0;
clear = 0.4;            // print clearance of the lid lip

// Raspberry Pi 5 board
pi_l = 85;              // along y (front -> back)
pi_w = 56;              // along x
pi_holes = [[3.5, 3.5], [3.5, 61.5], [52.5, 3.5], [52.5, 61.5]];   // [x, y] from the board corner
standoff_h = 5;
standoff_d = 6.0;
insert_d = 3.6;         // M2.5 heat-set insert hole

inner_w = 72;
inner_d = 96;
inner_h = 40;           // room for the Active Cooler (about 15 mm above the board)
pi_x = (inner_w - pi_w) / 2;
pi_y = inner_d - pi_l - 1;  // ports flush with the back wall

// Camera Module 3 (25 x 24 mm board, lens 7.5 mm square, holes 21 x 12.5 mm)
cam_tilt = 8;           // degrees up: a table-height camera looking at a seated face
cam_z = 28;             // lens centre height above the floor
cam_hole_d = 9;
cam_holes = [[-10.5, -6.25], [10.5, -6.25], [-10.5, 6.25], [10.5, 6.25]];
cam_screw_d = 2.2;

led_d = 5.2;            // 5 mm LEDs, press fit
rec_led_x = inner_w / 2 + 20;
button_d = 12.4;        // 12 mm panel push button

usb_eth_cut = [52, 16]; // width, height of the back opening
usbc_cut = [12, 7];     // left wall opening for USB-C
usbc_y = pi_y + 11.2;   // USB-C centre from the front inner wall

vent_n = 9;
vent_w = 2.5;
vent_l = 40;

$fn = 40;

outer = [inner_w + 2 * wall, inner_d + 2 * wall, inner_h + floor_t];

module rounded_box(size, r = 3) {
    hull() for (x = [r, size[0] - r], y = [r, size[1] - r])
        translate([x, y, 0]) cylinder(r = r, h = size[2]);
}

module base() {
    difference() {
        rounded_box(outer);
        translate([wall, wall, floor_t]) cube([inner_w, inner_d, inner_h + 1]);
        // camera lens, through the front wall, tilted
        translate([wall + inner_w / 2, -1, floor_t + cam_z]) rotate([-90 - cam_tilt, 0, 0])
            cylinder(d = cam_hole_d, h = wall + 3);
        // camera screws
        for (h = cam_holes)
            translate([wall + inner_w / 2 + h[0], -1, floor_t + cam_z + h[1]]) rotate([-90, 0, 0])
                cylinder(d = cam_screw_d, h = wall + 2);
        // recording LED beside the lens, on the interviewee's side
        translate([wall + rec_led_x, -1, floor_t + cam_z]) rotate([-90, 0, 0]) cylinder(d = led_d, h = wall + 2);
        // USB + Ethernet at the back
        translate([wall + pi_x + (pi_w - usb_eth_cut[0]) / 2, outer[1] - wall - 1, floor_t + standoff_h])
            cube([usb_eth_cut[0], wall + 2, usb_eth_cut[1]]);
        // USB-C power on the left
        translate([-1, wall + usbc_y - usbc_cut[0] / 2, floor_t + standoff_h - 1])
            cube([wall + 2, usbc_cut[0], usbc_cut[1]]);
        // floor vents under the cooler's intake
        for (i = [0 : vent_n - 1])
            translate([wall + pi_x + 6 + i * (vent_w + 2.5), wall + pi_y + 20, -1])
                cube([vent_w, vent_l, floor_t + 2]);
    }
    // Pi standoffs with heat-set insert holes
    for (h = pi_holes)
        translate([wall + pi_x + h[0], wall + pi_y + h[1], floor_t - 0.01])
            difference() {
                cylinder(d = standoff_d, h = standoff_h);
                translate([0, 0, 1]) cylinder(d = insert_d, h = standoff_h);
            }
}

module lid() {
    difference() {
        union() {
            rounded_box([outer[0], outer[1], lid_t]);
            // lip that locates the lid inside the walls
            translate([wall + clear, wall + clear, lid_t - 0.01])
                difference() {
                    cube([inner_w - 2 * clear, inner_d - 2 * clear, 3]);
                    translate([1.6, 1.6, -1]) cube([inner_w - 2 * clear - 3.2, inner_d - 2 * clear - 3.2, 5]);
                }
        }
        // session button and fault LED on the interviewer's (back) side
        translate([outer[0] / 2 - 12, outer[1] - 22, -1]) cylinder(d = button_d, h = lid_t + 6);
        translate([outer[0] / 2 + 14, outer[1] - 22, -1]) cylinder(d = led_d, h = lid_t + 6);
        // exhaust vents above the cooler
        for (i = [0 : vent_n - 1])
            translate([wall + pi_x + 6 + i * (vent_w + 2.5), wall + pi_y + 20, -1])
                cube([vent_w, vent_l, lid_t + 2]);
    }
}

if (part == "base" || part == "both") base();
if (part == "lid") lid();
if (part == "both") translate([outer[0] + 10, 0, 0]) lid();
